package engine

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/podguard/podguard/policies/config"
)

func scratchPrepare(b testing.TB, query string) rego.PreparedEvalQuery {
	srcs, err := readSources("")
	if err != nil {
		b.Fatal(err)
	}
	modules := map[string]*ast.Module{}
	for _, s := range srcs {
		if len(s.name) > 10 && s.name[len(s.name)-10:] == "_test.rego" {
			continue
		}
		m := ast.MustParseModuleWithOpts(string(s.text), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		modules[s.name] = m
	}
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

func BenchmarkScratchRules(b *testing.B) {
	for _, name := range []string{"pod-compliant.json", "pod-violating.json"} {
		raw := scratchObj(b, name)
		o, _ := Decode(raw)
		in, _ := ast.InterfaceToValue(o.input())
		for _, q := range []string{"data.pod.decision", "data.pod.lib.containers", "data.pod.rules.resources_requests.violation", "data.pod.rules.resources_limits.violation",
			"data.pod.rules.liveness_probe.violation", "data.pod.rules.startup_probe.violation", "data.pod.rules.image_tag.violation", "data.pod.rules.required_labels.violation", "x := 1"} {
			pq := scratchPrepare(b, q)
			b.Run(name+"/"+q, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					pq.Eval(context.Background(), rego.EvalParsedInput(in))
				}
			})
		}
	}
}
