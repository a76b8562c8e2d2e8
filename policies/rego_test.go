package policies_test

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestRego runs every *_test.rego beside the policies, exactly as `opa test policies`
// does, so `go test` alone covers the Rego.
func TestRego(t *testing.T) {
	results, err := tester.Run(t.Context(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no Rego tests found")
	}
	for _, r := range results {
		t.Run(r.Package+"."+r.Name, func(t *testing.T) {
			if r.Error != nil {
				t.Fatalf("%s: %v", r.Location, r.Error)
			}
			if r.Fail {
				t.Fatalf("%s: test failed", r.Location)
			}
		})
	}
}
