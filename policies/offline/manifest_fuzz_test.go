package offline_test

import (
	"bytes"
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
// does. Every document read names the file and a line in it, and is an object with a
// kind, a document skipped for a reason, or one that could not be read, with a cause in
// words; judging what was read never fails (a failure is exit code 2 on a valid
// manifest), and every finding can be located.
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
		"--- {apiVersion: v1, kind: Pod}\n", "kind: IPAllowList\n", "kind: PodList\nitems:\n- {metadata: {name: a}}\n",
		"- {op: add, path: /a, value: 1}\n", "metadata:\n  name: {{ .Release.Name }}\n", "{\"kind\": \"Pod\"}\n{\"kind\": \"Service\"}\n",
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
			t.Fatalf("Read from memory failed: %v", err)
		}
		for _, m := range ms {
			switch k, _ := m.Object["kind"].(string); {
			case m.File != "in.yaml" || m.Line < 1 || m.Line > lines+1:
				t.Fatalf("document at %s:%d (of %d lines) is not named by the file and a line in it", m.File, m.Line, lines)
			case m.Err != nil:
				if strings.Contains(m.Err.Error(), "interface {}") {
					t.Fatalf("the cause names Go types: %v", m.Err)
				}
			case m.Skipped == "" && m.Refused == "" && k == "":
				t.Fatalf("manifest at line %d without a kind, a reason to skip or refuse it or an error: %v", m.Line, m.Object)
			}
		}
		results := offline.Evaluate(t.Context(), fuzzEngine, ms)
		for _, r := range results {
			if r.Verdict == offline.VerdictError {
				t.Fatalf("judging %s: %s\ninput:\n%s", r.Position(), r.Reason, data)
			}
			for _, f := range r.Findings {
				if n := r.FieldLine(f.Field); n < 1 || n > lines {
					t.Fatalf("finding %s located at line %d of %d", f.Field, n, lines)
				}
			}
		}
	})
}
