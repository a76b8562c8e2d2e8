package engine_test

import (
	"reflect"
	"sync"
	"testing"

	"github.com/podguard/podguard/policies/engine"
)

// TestEvaluateConcurrently: evaluations running at once (each with a cache from the
// shared pool) give the decisions they give one at a time.
func TestEvaluateConcurrently(t *testing.T) {
	e := load(t, engine.Options{})
	names := []string{"pod-compliant.json", "pod-violating.json", "deployment.json", "pod-needs-defaults.json"}
	want := map[string]engine.Decision{}
	objects := map[string]*engine.Object{}
	for _, name := range names {
		o, err := engine.Decode(benchObject(t, name))
		if err != nil {
			t.Fatal(err)
		}
		objects[name] = o
		if want[name], err = e.Judge(t.Context(), o, engine.Namespace{}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				name := names[(w+i)%len(names)]
				got, err := e.Judge(t.Context(), objects[name], engine.Namespace{})
				if err != nil {
					t.Error(err)
					return
				}
				if !reflect.DeepEqual(got, want[name]) {
					t.Errorf("%s: concurrent decision %+v, alone %+v", name, got, want[name])
					return
				}
			}
		})
	}
	wg.Wait()
}
