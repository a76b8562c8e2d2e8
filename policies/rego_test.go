package policies_test

import (
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestRego runs every *_test.rego beside the policies, as `opa test policies` does, so
// `go test` alone covers the Rego.
func TestRego(t *testing.T) {
	modules, store, err := tester.Load([]string{"."}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// OPA's tester gives each test 5s by default, which a busy machine reaches: a slow
	// test is not a failing one. The bound is the test binary's own (go test -timeout).
	timeout := 24 * time.Hour
	if d, ok := t.Deadline(); ok {
		timeout = time.Until(d)
	}
	start := time.Now()
	ch, err := tester.NewRunner().SetStore(store).SetTimeout(timeout).SetModules(modules).RunTests(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var slowest *tester.Result
	for r := range ch {
		n++
		if slowest == nil || r.Duration > slowest.Duration {
			slowest = r
		}
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
	t.Logf("%d Rego tests in %v; the slowest, %s.%s, took %v", n, time.Since(start).Round(time.Millisecond),
		slowest.Package, slowest.Name, slowest.Duration.Round(time.Millisecond))
}
