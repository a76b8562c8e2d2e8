package chart

import (
	"bytes"
	"log"
	"os"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestLint runs `helm lint --strict` (the chart's metadata, values against the schema,
// templates rendered and parsed) for every value set, in the namespace `helm lint` uses
// by default ("default") and in a namespace of podguard's own. Warnings fail the test as
// errors do, and so does an info line reporting a failed template (`[INFO] Fail: ...`).
func TestLint(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range valueSets(t) {
		for _, ns := range []string{"default", "podguard-system"} {
			t.Run(set.name+"/"+ns, func(t *testing.T) {
				vals, err := mergeValues(set.files, nil)
				if err != nil {
					t.Fatal(err)
				}
				lint := action.NewLint()
				lint.Namespace = ns
				lint.KubeVersion = kv
				lint.Strict = true
				// A template's fail is no lint error: Helm logs it as "[INFO] Fail: ...".
				var logged bytes.Buffer
				log.SetOutput(&logged)
				res := lint.Run([]string{Dir()}, vals)
				log.SetOutput(os.Stderr)
				if strings.Contains(logged.String(), "Fail") {
					t.Errorf("helm lint logged: %s", logged.String())
				}
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
}
