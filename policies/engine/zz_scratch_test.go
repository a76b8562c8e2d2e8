package engine

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

func scratchObj(b *testing.B, name string) []byte {
	raw, err := os.ReadFile("../../test/bench/bodies/" + name)
	if err != nil {
		b.Fatal(err)
	}
	var r struct {
		Request struct {
			Object json.RawMessage `json:"object"`
		} `json:"request"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		b.Fatal(err)
	}
	return r.Request.Object
}

func BenchmarkScratch(b *testing.B) {
	e, err := Load(context.Background(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"pod-compliant.json", "pod-violating.json", "pod-100k.json"} {
		raw := scratchObj(b, name)
		b.Run(name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Decode(raw)
			}
		})
		o, _ := Decode(raw)
		b.Run(name+"/toValue", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ast.InterfaceToValue(o.input())
			}
		})
		in, _ := ast.InterfaceToValue(o.input())
		b.Run(name+"/eval", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.decision.Eval(context.Background(), rego.EvalParsedInput(in))
			}
		})
		b.Run(name+"/Evaluate", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Evaluate(context.Background(), o)
			}
		})
	}
}

func TestScratchDump(t *testing.T) {
	for _, name := range []string{"pod-compliant.json", "pod-violating.json", "pod-100k.json"} {
		raw := scratchObj(&testing.B{}, name)
		o, _ := Decode(raw)
		js, _ := json.Marshal(o.input())
		os.WriteFile("/tmp/input-"+name, js, 0o644)
	}
	e, _ := Load(context.Background(), Options{})
	js, _ := json.Marshal(map[string]any{"pod": map[string]any{"config": e.cfg.Data}})
	os.WriteFile("/tmp/data.json", js, 0o644)
}
