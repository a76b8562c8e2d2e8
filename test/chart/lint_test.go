package chart

import (
	"strings"
	"testing"
)

// TestLint runs `helm lint --strict` (the chart's metadata, values against the schema,
// templates rendered and parsed) with each SDK, for every value set, in the namespace
// `helm lint` uses by default ("default") and in a namespace of podguard's own. Warnings
// fail the test as errors do, and so does a template's fail, which lint only logs
// (`[INFO] Fail: ...` in Helm 3, "funcMap fail" in Helm 4).
func TestLint(t *testing.T) {
	for _, sdk := range SDKs {
		for _, set := range valueSets(t) {
			for _, ns := range []string{"default", "podguard-system"} {
				t.Run(string(sdk)+"/"+set.name+"/"+ns, func(t *testing.T) {
					vals, err := mergeValues(set.files, nil)
					if err != nil {
						t.Fatal(err)
					}
					res, err := Lint(sdk, ns, vals, true)
					if err != nil {
						t.Fatal(err)
					}
					if strings.Contains(res.Logged, "Fail") || strings.Contains(res.Logged, "fail") {
						t.Errorf("helm lint logged: %s", res.Logged)
					}
					for _, m := range res.Messages {
						if m.Severity > 0 {
							t.Errorf("%s", m.Text)
						} else {
							t.Logf("%s", m.Text)
						}
					}
					for _, err := range res.Errors {
						t.Errorf("lint: %v", err)
					}
					if res.Linted != 1 {
						t.Errorf("linted %d charts, want 1", res.Linted)
					}
				})
			}
		}
	}
}
