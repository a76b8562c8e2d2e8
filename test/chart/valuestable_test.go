package chart

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestValuesTableInSync keeps the values table of charts/podguard/README.md what
// values.yaml's comments say; -update rewrites it.
func TestValuesTableInSync(t *testing.T) {
	table, err := ValuesTable(readFile(t, filepath.Join(Dir(), "values.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(Dir(), "README.md")
	readme := string(readFile(t, path))
	want, err := ReplaceTable(readme, table)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		writeFile(t, path, []byte(want))
		return
	}
	if want != readme {
		t.Errorf("the values table in %s differs from values.yaml (cd test && go test ./chart -run ValuesTable -update rewrites it):\n%s", path, lineDiff(want, readme))
	}
}

func TestValuesTable(t *testing.T) {
	tests := map[string]struct {
		values, want, wantErr string
	}{
		"described values and a nested mapping": {
			values: "# A note that is not the description.\n# -- How many.\nreplicas: 2\nimage:\n  # -- Where | from.\n  repository: example.com/x\n",
			want:   "| `replicas` | integer | `2` | How many. |\n| `image.repository` | string | `\"example.com/x\"` | Where \\| from. |\n",
		},
		"a mapping described as a whole": {
			values: "# -- Resources,\n# requests and limits.\nresources:\n  requests: {cpu: 100m}\n",
			want:   "| `resources` | object | `{\"requests\":{\"cpu\":\"100m\"}}` | Resources, requests and limits. |\n",
		},
		"a note after the description is not it": {
			values:  "# -- Old words.\n\n# A later note.\nx: 1\n",
			wantErr: "x (line 4) has no \"# --\" description",
		},
		"undescribed value": {
			values:  "a:\n  # -- ok\n  b: 1\n  c: [1]\n",
			wantErr: "a.c (line 4) has no \"# --\" description",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ValuesTable([]byte(tc.values))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := "| value | type | default | description |\n|---|---|---|---|\n" + tc.want; got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
