package engine

import (
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"k8s.io/apimachinery/pkg/api/resource"
)

var (
	quantityQueryOnce sync.Once
	quantityQuery     rego.PreparedEvalQuery
	quantityQueryErr  error
)

// prepareQuantity compiles lib.quantity with the built-in policies, evaluated as the
// engine evaluates them: with strict builtin errors.
func prepareQuantity(t *testing.T) rego.PreparedEvalQuery {
	quantityQueryOnce.Do(func() {
		srcs, err := readSources("")
		if err != nil {
			quantityQueryErr = err
			return
		}
		opts := []func(*rego.Rego){rego.Query("x := data.pod.lib.quantity(input.q)"), rego.StrictBuiltinErrors(true)}
		for _, s := range srcs {
			if !strings.HasSuffix(s.name, "_test.rego") {
				opts = append(opts, rego.Module(s.name, string(s.text)))
			}
		}
		quantityQuery, quantityQueryErr = rego.New(opts...).PrepareForEval(t.Context())
	})
	if quantityQueryErr != nil {
		t.Fatal(quantityQueryErr)
	}
	return quantityQuery
}

var bigExponent = regexp.MustCompile(`[eE][+-]?[0-9]{4,}`)

// FuzzQuantity: lib.quantity never fails an evaluation, whatever string a manifest
// carries (a builtin error would answer the API server with a 500, and fail podguard eval),
// and every quantity as the API server sends it has the value Kubernetes gives it.
func FuzzQuantity(f *testing.F) {
	for _, s := range []string{"100m", "1", "1.5", "1.", ".5", "+1", "-1", "1e3", "1E3", "1e-3", "1E", "1e", "1Ki", "1Mi",
		"1Gi", "1Ti", "1Pi", "1Ei", "1k", "1K", "1M", "1G", "1T", "1P", "5n", "250u", "1.5e3Mi", "abc", "", "1 Gi", "--1",
		"1x", "1e9999999", "1e999999", "0x10", ".", "-", "1e+", "1.2.3", `1"`, "1n5", "nu", "1mi", "1MI"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := prepareQuantity(t)
		rs, err := q.Eval(t.Context(), rego.EvalInput(map[string]any{"q": s}))
		if err != nil {
			t.Fatalf("quantity(%q) failed the evaluation: %v", s, err)
		}
		// The API server decodes every quantity before a webhook sees it and sends it in its
		// canonical form, which must read as Kubernetes reads it.
		if len(s) > 24 || bigExponent.MatchString(s) {
			return // Kubernetes' own arithmetic on such numbers takes minutes
		}
		want, err := resource.ParseQuantity(s)
		if err != nil {
			return
		}
		if w := want.AsApproximateFloat64(); math.Abs(w) > 1e18 {
			return // beyond int64, Kubernetes' canonical form loses the value
		}
		canonical := want.String()
		if i := strings.IndexAny(canonical, "eE"); i >= 0 && len(strings.TrimLeft(canonical[i+1:], "+-")) > 6 {
			return // exponents beyond six digits are not read (units.parse's limit): undefined, no error
		}
		rs, err = q.Eval(t.Context(), rego.EvalInput(map[string]any{"q": canonical}))
		if err != nil {
			t.Fatalf("quantity(%q) failed the evaluation: %v", canonical, err)
		}
		if len(rs) == 0 {
			t.Fatalf("quantity(%q) is undefined", canonical)
		}
		got, err := ast.InterfaceToValue(rs[0].Bindings["x"])
		if err != nil {
			t.Fatal(err)
		}
		n, ok := got.(ast.Number)
		if !ok {
			t.Fatalf("quantity(%q) = %v, not a number", canonical, got)
		}
		f, _ := n.Float64()
		w := want.AsApproximateFloat64()
		if math.Abs(f-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Fatalf("quantity(%q) = %v; Kubernetes reads %v", canonical, f, w)
		}
	})
}
