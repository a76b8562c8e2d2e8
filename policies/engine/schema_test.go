package engine

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestInputSchema: the input the builder makes has exactly the members schema.go declares,
// and the reference in policies/README.md names exactly those.
func TestInputSchema(t *testing.T) {
	o, err := Decode([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},"spec":{
		"resources":{"limits":{"cpu":"1"}},
		"containers":[{"name":"app","image":"app:1","resources":{"requests":{"memory":"lots"}},"livenessProbe":{"exec":{}}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	plan := inputPlan{spec: true, object: true, resources: []string{"cpu"}}
	input, err := o.input(&o.pod, map[string]string{"team": "a"}, false, &plan)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range inputFields {
		want = append(want, f.key)
	}
	if got := memberNames(t, input); !equalSets(got, want) {
		t.Errorf("input has %v, schema.go declares %v", got, want)
	}
	c := input.(ast.Object).Get(ast.StringTerm("containers")).Value.(*ast.Array).Elem(0).Value
	if got := memberNames(t, c); !equalSets(got, containerFields) {
		t.Errorf("a container has %v, schema.go declares %v", got, containerFields)
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start, end := strings.Index(text, "**Input: facts"), strings.Index(text, "**The object itself.**")
	if start < 0 || end < start {
		t.Fatal("policies/README.md has no input reference")
	}
	mentioned := map[string]bool{}
	for _, m := range regexp.MustCompile(`input\.([a-z_]+)`).FindAllStringSubmatch(text, -1) {
		mentioned[m[1]] = true
	}
	for _, f := range inputFields {
		if !mentioned[f.key] {
			t.Errorf("policies/README.md does not name input.%s", f.key)
		}
		delete(mentioned, f.key)
	}
	for k := range mentioned {
		t.Errorf("policies/README.md names input.%s, which the input does not have", k)
	}
	table := text[start:end]
	for _, k := range containerFields {
		if !strings.Contains(table, "| `"+k+"`") && !strings.Contains(table, ", `"+k+"`") {
			t.Errorf("policies/README.md's container table does not list %s", k)
		}
	}
}

func memberNames(t *testing.T, v ast.Value) []string {
	t.Helper()
	obj, ok := v.(ast.Object)
	if !ok {
		t.Fatalf("%v is not an object", v)
	}
	var out []string
	for _, k := range obj.Keys() {
		out = append(out, string(k.Value.(ast.String)))
	}
	return out
}

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
