package policies_test

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestRego runs every *_test.rego beside the policies, as `opa test policies` does, so
// `go test` alone covers the Rego.
func TestRego(t *testing.T) {
	modules, store, err := tester.Load([]string{"."}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := tester.NewRunner().SetStore(store).Run(t.Context(), modules)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r := range ch {
		n++
		t.Run(r.Package+"."+r.Name, func(t *testing.T) {
			if r.Error != nil {
				t.Fatalf("%s: %v", r.Location, r.Error)
			}
			if r.Fail {
				t.Fatalf("%s: test failed", r.Location)
			}
		})
	}
	if n == 0 {
		t.Fatal("no Rego tests found")
	}
}
