package offline_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/offline"
)

var (
	fuzzEngineOnce sync.Once
	fuzzEngine     *engine.Engine
	fuzzEngineErr  error
)

// FuzzRead feeds podguard eval's reader arbitrary files, then judges what it read as eval
// does. Reading either gives manifests that each have a kind and a line in the file, or an
// InputError that names the file and a line in it; judging what was read never fails
// (a failure is exit code 2 on a valid manifest), and every finding can be located.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: app, image: nginx}]}\n",
		"---\n# comment\n---\nkind: List\nitems:\n- kind: Pod\n  spec: {containers: [{name: a}]}\n- kind: ConfigMap\n",
		"kind: Deployment\nspec:\n  template:\n    metadata: {labels: {app.kubernetes.io/name: x}}\n    spec:\n      containers:\n      - {name: a, image: 'a:1', resources: {limits: {cpu: abc}}}\n",
		"kind: LimitRange\nmetadata: {namespace: default}\nspec: {limits: [{type: Container, default: {cpu: 1}}]}\n---\nkind: Pod\nspec: {containers: [{name: a}]}\n",
		"kind: Namespace\nmetadata: {name: prod, labels: {env: prod}}\n",
		"kind: Pod\nspec: [\n", "- a\n- b\n", "kind: 5\n", "kind: CronJob\nspec: {jobTemplate: null}\n", "{\"kind\": \"Pod\"}",
		"kind: Pod\nmetadata: {labels: x}\nspec: {containers: x, initContainers: [null, 1, {restartPolicy: Always}]}\n",
		"\xff\xfe", "kind: PodList\nitems: [1]\n", "a: &x [*x]\n",
	} {
		f.Add([]byte(s))
	}
	for _, dir := range []string{"../../test/samples", "../../test/fixtures/eval"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzEngineOnce.Do(func() { fuzzEngine, fuzzEngineErr = engine.Load(t.Context(), engine.Options{}) })
		if fuzzEngineErr != nil {
			t.Fatal(fuzzEngineErr)
		}
		// Lines as the YAML parser counts them: a lone \r breaks a line too, and so do
		// NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR (YAML 1.1 line breaks).
		lines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n")) + 1
		for _, brk := range []string{"\u0085", "\u2028", "\u2029"} {
			lines += bytes.Count(data, []byte(brk))
		}
		ms, err := offline.Read("in.yaml", bytes.NewReader(data))
		if err != nil {
			var ie *offline.InputError
			if !errors.As(err, &ie) || ie.File != "in.yaml" || ie.Line < 0 || ie.Line > lines+1 {
				t.Fatalf("Read error %v (%T) does not name the file and a line in it", err, err)
			}
			return
		}
		for _, m := range ms {
			if k, _ := m.Object["kind"].(string); k == "" || m.Line < 1 || m.Line > lines {
				t.Fatalf("manifest at line %d (of %d) without a kind: %v", m.Line, lines, m.Object)
			}
		}
		results, err := offline.Evaluate(t.Context(), fuzzEngine, ms)
		if err != nil {
			var ie *offline.InputError
			if errors.As(err, &ie) && strings.Contains(err.Error(), "LimitRange") {
				return // a LimitRange that does not decode is an input error (exit 2)
			}
			t.Fatalf("judging what was read: %v\ninput:\n%s", err, data)
		}
		for _, r := range results {
			for _, f := range r.Findings {
				if n := r.FieldLine(f.Field); n < 1 || n > lines {
					t.Fatalf("finding %s located at line %d of %d", f.Field, n, lines)
				}
			}
		}
	})
}
