package chart

import (
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestLint runs `helm lint` (the chart's metadata, values against the schema, templates
// rendered and parsed) for every value set. Warnings fail the test as errors do.
func TestLint(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range valueSets(t) {
		t.Run(set.name, func(t *testing.T) {
			vals, err := mergeValues(set.files, nil)
			if err != nil {
				t.Fatal(err)
			}
			lint := action.NewLint()
			lint.Namespace = "podguard-system"
			lint.KubeVersion = kv
			lint.Strict = true
			res := lint.Run([]string{Dir()}, vals)
			for _, m := range res.Messages {
				if m.Severity > support.InfoSev {
					t.Errorf("%s", m)
				} else {
					t.Logf("%s", m)
				}
			}
			for _, err := range res.Errors {
				t.Errorf("lint: %v", err)
			}
			if res.TotalChartsLinted != 1 {
				t.Errorf("linted %d charts, want 1", res.TotalChartsLinted)
			}
		})
	}
}
