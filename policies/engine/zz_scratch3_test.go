package engine

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

func BenchmarkScratchOPABaseline(b *testing.B) {
	src, _ := os.ReadFile("../../test/bench/opa/policy.rego")
	q, err := rego.New(rego.Query("data.system.main"), rego.Module("p.rego", string(src))).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"pod-compliant.json", "pod-violating.json", "pod-100k.json"} {
		raw, _ := os.ReadFile("../../test/bench/bodies/" + name)
		var m any
		json.Unmarshal(raw, &m)
		in, _ := ast.InterfaceToValue(m)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				q.Eval(context.Background(), rego.EvalParsedInput(in))
			}
		})
	}
}
