package engine_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// decided is what the golden file records of each object: the decision the webhook makes
// (a workload as the Pod it becomes), and for a Pod the defaults the mutation adds.
type decided struct {
	File      string   `json:"file"`
	Deny      []string `json:"deny"`
	Warn      []string `json:"warn"`
	Audit     []string `json:"audit"`
	Additions []string `json:"additions"`
}

// TestDecisionsGolden holds the decisions on every body of the load benchmark, every
// sample and every engine and eval fixture to the ones recorded in
// testdata/decisions.golden.json, so that a change to how objects are read or judged
// cannot change a verdict or a message unnoticed.
func TestDecisionsGolden(t *testing.T) {
	e := load(t, engine.Options{})
	var files []string
	for _, pattern := range []string{"test/bench/bodies/*.json", "test/samples/*", "test/fixtures/engine/*.yaml",
		"test/fixtures/eval/compliant.yaml", "test/fixtures/eval/limitrange.yaml", "test/fixtures/eval/multi.yaml",
		"test/fixtures/eval/namespace-selector.yaml"} {
		m, err := filepath.Glob(filepath.Join("..", "..", pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) < 15 {
		t.Fatalf("only %d files found", len(files))
	}
	var got []decided
	for _, f := range files {
		for i, js := range objects(t, f) {
			v, err := e.Review(t.Context(), engine.Request{Operation: engine.Create, Object: engine.BodyOf(js)})
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if v.Skipped == engine.SkipKind {
				continue // a kind podguard does not check
			}
			if v.Skipped != engine.NotSkipped {
				t.Fatalf("%s: %s", f, v.Reason)
			}
			d, o := v.Decision, v.Object
			entry := decided{File: fmt.Sprintf("%s#%d", filepath.Base(f), i), Deny: strs(d.Deny), Warn: strs(d.Warn), Audit: strs(d.Audit), Additions: []string{}}
			if o.Kind == "Pod" {
				m, err := e.Review(t.Context(), engine.Request{Mutate: true, Operation: engine.Create, Object: engine.BodyOf(js)})
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range m.Additions {
					entry.Additions = append(entry.Additions, a.Field(o)+"="+a.Value)
				}
			}
			got = append(got, entry)
		}
	}
	path := filepath.Join("testdata", "decisions.golden.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []decided
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d objects judged, the golden file has %d", len(got), len(want))
	}
	for i := range want {
		g, w := fmt.Sprintf("%+v", got[i]), fmt.Sprintf("%+v", want[i])
		if g != w {
			t.Errorf("%s:\n got %s\nwant %s", want[i].File, g, w)
		}
	}
}

// objects are the objects of a file: the object of an AdmissionReview, or each document
// of a YAML file.
func objects(t *testing.T, file string) [][]byte {
	t.Helper()
	if strings.HasSuffix(file, ".json") {
		return [][]byte{engine.ReviewObject(t, file)}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if string(js) != "null" {
			out = append(out, js)
		}
	}
	return out
}
