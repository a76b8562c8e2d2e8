package engine

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/podguard/podguard/policies/config"
)

func expPrepare(b testing.TB, dir, query string) rego.PreparedEvalQuery {
	modules := map[string]*ast.Module{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
			return nil
		}
		s, _ := os.ReadFile(p)
		modules[p] = ast.MustParseModuleWithOpts(string(s), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		return nil
	})
	cfg, _ := config.Default()
	store := inmem.NewFromObjectWithOpts(map[string]any{"pod": map[string]any{"config": cfg.Data}}, inmem.OptReturnASTValuesOnRead(true))
	compiler := ast.NewCompiler().WithCapabilities(capabilities())
	if compiler.Compile(modules); compiler.Failed() {
		b.Fatal(compiler.Errors)
	}
	q, err := rego.New(rego.Query(query), rego.Compiler(compiler), rego.Store(store)).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return q
}

func BenchmarkExp(b *testing.B) {
	dirs := strings.Split(os.Getenv("EXP_DIRS"), ",")
	q := os.Getenv("EXP_QUERY")
	if q == "" {
		q = "data.pod.decision"
	}
	for _, name := range []string{"pod-compliant.json", "pod-violating.json", "pod-100k.json"} {
		raw := scratchObj(b, name)
		o, _ := Decode(raw)
		in, _ := ast.InterfaceToValue(o.input())
		for _, dir := range dirs {
			pq := expPrepare(b, dir, q)
			b.Run(name+"/"+filepath.Base(dir), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					pq.Eval(context.Background(), rego.EvalParsedInput(in))
				}
			})
		}
	}
}

// TestExpSame checks that two policy dirs give the same decision on the bench bodies.
func TestExpSame(t *testing.T) {
	dirs := strings.Split(os.Getenv("EXP_DIRS"), ",")
	if len(dirs) < 2 {
		t.Skip()
	}
	for _, q := range []string{"data.pod.decision", "data.pod.defaults.additions"} {
		a, b := expPrepare(t, dirs[0], q), expPrepare(t, dirs[1], q)
		for _, name := range []string{"pod-compliant.json", "pod-violating.json", "pod-100k.json", "deployment.json", "pod-needs-defaults.json"} {
			raw := scratchObj(&testing.B{}, name)
			o, _ := Decode(raw)
			in, _ := ast.InterfaceToValue(o.input())
			ra, err1 := a.Eval(context.Background(), rego.EvalParsedInput(in))
			rb, err2 := b.Eval(context.Background(), rego.EvalParsedInput(in))
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if ast.MustInterfaceToValue(ra[0].Expressions[0].Value).Compare(ast.MustInterfaceToValue(rb[0].Expressions[0].Value)) != 0 {
				t.Errorf("%s %s differs:\n%v\n%v", q, name, ra[0].Expressions[0].Value, rb[0].Expressions[0].Value)
			}
		}
	}
}
