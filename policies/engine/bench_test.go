package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/podguard/podguard/policies/engine"
)

// benchObject is the object of one of the load benchmark's request bodies
// (test/bench/bodies), as the webhook receives it.
func benchObject(b testing.TB, name string) []byte {
	return engine.ReviewObject(b, filepath.Join("..", "..", "test", "bench", "bodies", name))
}

// BenchmarkReview is what the validating webhook does for each body of the load
// benchmark, without HTTP: Review, which decodes the object and judges it (a workload as
// the Pod it creates, with the defaults it will get), with the planned evaluation podguard serves
// and with OPA's evaluator, its reference. Allocations are reported so that a change
// that makes evaluation heavier shows even on a noisy machine.
func BenchmarkReview(b *testing.B) {
	for _, opa := range []bool{false, true} {
		e := load(b, engine.Options{OPAEvaluator: opa})
		evaluator, _ := e.Evaluator()
		for _, name := range []string{"pod-compliant.json", "pod-violating.json", "pod-100k.json", "deployment.json"} {
			raw := engine.BodyOf(benchObject(b, name))
			b.Run(evaluator+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(raw.Len()))
				for b.Loop() {
					v, err := e.Review(b.Context(), engine.Request{Operation: engine.Create, Object: raw})
					if err != nil || v.Skipped != engine.NotSkipped {
						b.Fatal(err, v.Reason)
					}
				}
			})
		}
	}
}

// BenchmarkMutate is what the mutating webhook does for a Pod that lacks its resources:
// Review with Mutate, which decodes, finds the defaults and applies them.
func BenchmarkMutate(b *testing.B) {
	e := load(b, engine.Options{})
	raw := engine.BodyOf(benchObject(b, "pod-needs-defaults.json"))
	b.ReportAllocs()
	for b.Loop() {
		v, err := e.Review(b.Context(), engine.Request{Mutate: true, Operation: engine.Create, Object: raw})
		if err != nil || len(v.Additions) == 0 {
			b.Fatal(err, v.Reason)
		}
	}
}

// BenchmarkDecode is the decoding of a request's object alone.
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"pod-compliant.json", "pod-100k.json"} {
		raw := benchObject(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := engine.Decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
