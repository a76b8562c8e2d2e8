package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// templatePaths says where each supported kind keeps the Pod it stands for. A workload is
// judged by its pod template: the Pod it will create.
var templatePaths = map[string][]string{
	"Pod":                   nil,
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// Supported reports whether podguard judges objects of this kind.
func Supported(kind string) bool {
	_, ok := templatePaths[kind]
	return ok
}

// Object is a decoded manifest: a Pod or a workload with a pod template.
type Object struct {
	Kind      string
	Namespace string
	Name      string
	// Raw is the whole object as decoded JSON (numbers kept exact as json.Number), so a
	// patch computed from it touches only what podguard changed.
	Raw map[string]any
	// NamespaceLabels are the labels of the object's Namespace, which namespace overrides
	// may select on. Only an admin sets them, unlike anything in the object itself.
	NamespaceLabels map[string]string
	// template is the map holding metadata and spec of the Pod: Raw itself for a Pod.
	template   map[string]any
	prefixPath string // "" for a Pod, "spec.template." for a Deployment, ...
}

// Decode parses one Kubernetes object in JSON. Kinds podguard does not judge are an error.
func Decode(raw []byte) (*Object, error) {
	m, err := decodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	return FromMap(m)
}

// FromMap wraps an already decoded object.
func FromMap(m map[string]any) (*Object, error) {
	kind, _ := m["kind"].(string)
	path, ok := templatePaths[kind]
	if !ok {
		if kind == "" {
			return nil, errors.New("object has no kind")
		}
		return nil, fmt.Errorf("kind %s is not checked by podguard", kind)
	}
	meta, _ := m["metadata"].(map[string]any)
	o := &Object{Kind: kind, Raw: m, template: m}
	o.Namespace, _ = meta["namespace"].(string)
	o.Name, _ = meta["name"].(string)
	if o.Name == "" {
		o.Name, _ = meta["generateName"].(string)
	}
	for _, k := range path {
		next, ok := o.template[k].(map[string]any)
		if !ok {
			// A workload without a template has nothing to judge yet, but it must not
			// pass for compliant: judge an empty Pod (it lacks the required labels).
			next = map[string]any{}
		}
		o.template = next
	}
	if len(path) > 0 {
		o.prefixPath = strings.Join(path, ".") + "."
	}
	return o, nil
}

// input is what the Rego sees: the Pod's labels and spec, and where they live in the
// object so messages point at the right field.
func (o *Object) input() map[string]any {
	meta, _ := o.template["metadata"].(map[string]any)
	spec, _ := o.template["spec"].(map[string]any)
	in := map[string]any{
		"kind":        o.Kind,
		"namespace":   o.Namespace,
		"name":        o.Name,
		"labels":      meta["labels"],
		"labels_path": o.prefixPath + "metadata.labels",
		"spec":        spec,
		"spec_path":   o.prefixPath + "spec",
	}
	if len(o.NamespaceLabels) > 0 {
		labels := make(map[string]any, len(o.NamespaceLabels))
		for k, v := range o.NamespaceLabels {
			labels[k] = v
		}
		in["namespace_labels"] = labels
	}
	if in["labels"] == nil {
		in["labels"] = map[string]any{}
	}
	if spec == nil {
		in["spec"] = map[string]any{}
	}
	return in
}

// JSON encodes the object.
func (o *Object) JSON() ([]byte, error) {
	return json.Marshal(o.Raw)
}

// DeepCopy returns an independent copy, for mutating without touching the original.
func (o *Object) DeepCopy() *Object {
	c, err := FromMap(deepCopy(o.Raw).(map[string]any))
	if err != nil {
		panic(err) // the original was valid, so its copy is too
	}
	c.Namespace = o.Namespace
	c.NamespaceLabels = o.NamespaceLabels
	return c
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}

// Owner returns the kind and name of the controller that created the object, if any.
func (o *Object) Owner() (kind, name string) {
	meta, _ := o.Raw["metadata"].(map[string]any)
	refs, _ := meta["ownerReferences"].([]any)
	for _, r := range refs {
		ref, _ := r.(map[string]any)
		if ref["controller"] == true {
			kind, _ = ref["kind"].(string)
			name, _ = ref["name"].(string)
			return kind, name
		}
	}
	return "", ""
}

// inputValue is input() as OPA's value, converted in one pass without the intermediate
// map. Keys are converted once per request, which matters for a Pod: most of its
// objects repeat the same few keys (name, value, valueFrom, ...).
func (o *Object) inputValue() (ast.Value, error) {
	c := converter{keys: make(map[string]*ast.Term, 64)}
	in := o.input()
	pairs := make([][2]*ast.Term, 0, len(in))
	for k, v := range in {
		val, err := c.value(v)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, [2]*ast.Term{c.key(k), ast.NewTerm(val)})
	}
	return ast.NewObject(pairs...), nil
}

// converter turns decoded JSON (map[string]any, []any, string, json.Number, bool, nil)
// into OPA values, as ast.InterfaceToValue does.
type converter struct {
	keys map[string]*ast.Term
}

func (c *converter) key(k string) *ast.Term {
	if t, ok := c.keys[k]; ok {
		return t
	}
	t := ast.InternedTerm(k)
	c.keys[k] = t
	return t
}

func (c *converter) value(x any) (ast.Value, error) {
	switch x := x.(type) {
	case string:
		return ast.InternedValue(x), nil
	case map[string]any:
		terms := make([]ast.Term, len(x))
		pairs := make([][2]*ast.Term, 0, len(x))
		i := 0
		for k, v := range x {
			val, err := c.value(v)
			if err != nil {
				return nil, err
			}
			terms[i].Value = val
			pairs = append(pairs, [2]*ast.Term{c.key(k), &terms[i]})
			i++
		}
		return ast.NewObject(pairs...), nil
	case []any:
		terms := make([]ast.Term, len(x))
		ptrs := make([]*ast.Term, len(x))
		for i, v := range x {
			val, err := c.value(v)
			if err != nil {
				return nil, err
			}
			terms[i].Value = val
			ptrs[i] = &terms[i]
		}
		return ast.NewArray(ptrs...), nil
	}
	return ast.InterfaceToValue(x)
}
