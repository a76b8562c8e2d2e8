package engine_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/podguard/podguard/policies/engine"
)

// podGen turns fuzz bytes into a Pod (or a workload): each byte picks among values the
// rules treat differently, so the fuzzer explores containers, resources, probes, images,
// labels and the odd shapes the API server would refuse but a mutating webhook still sees
// (null lists, strings where objects belong, unparseable quantities).
type podGen struct {
	b []byte
	i int
}

func (g *podGen) next() int {
	if g.i >= len(g.b) {
		return 0
	}
	g.i++
	return int(g.b[g.i-1])
}

func (g *podGen) pick(options ...any) any { return options[g.next()%len(options)] }

var (
	genQuantities = []any{"100m", "1", "0", "500m", "128Mi", "1Gi", "256Mi", "2G", "1e3", "250u", "5n", "1.5", "+1", "1Ki",
		"", nil, "abc", "1 Gi", "--1", "1x", "1e99999", json.Number("0.5"), json.Number("2"), true, map[string]any{}}
	genImages = []any{"nginx", "nginx:latest", "nginx:1.27", "registry:5000/app", "registry:5000/app:latest", "app@sha256:abc",
		"app:latest@sha256:abc", "a/b/c:", "", nil, "registry.k8s.io/pause:3.9", "x:y:z", "@", ":", "busybox:LATEST", "repo/app:v1@",
		json.Number("42"), "ünïcode:látest", "app@", "/", "a//b:c"}
	genHandlers = []string{"exec", "httpGet", "tcpSocket", "grpc", "sleep"}
)

func (g *podGen) quantities() any {
	switch g.next() % 8 {
	case 0:
		return nil
	case 1:
		return g.pick("x", []any{"cpu"}, json.Number("1"))
	}
	m := map[string]any{}
	for _, r := range []string{"cpu", "memory", "ephemeral-storage"} {
		if g.next()%3 > 0 {
			m[r] = g.pick(genQuantities...)
		}
	}
	return m
}

func (g *podGen) probe() any {
	switch g.next() % 6 {
	case 0:
		return nil
	case 1:
		return g.pick("x", json.Number("1"), []any{})
	case 2:
		return map[string]any{}
	}
	p := map[string]any{"periodSeconds": json.Number("10")}
	for _, h := range genHandlers {
		if g.next()%3 == 0 {
			p[h] = g.pick(map[string]any{"port": json.Number("8080")}, nil, map[string]any{}, "x")
		}
	}
	return p
}

func (g *podGen) container(i int) any {
	if g.next()%16 == 0 {
		return g.pick(nil, "app", json.Number("3"), []any{})
	}
	c := map[string]any{}
	if g.next()%8 > 0 {
		c["name"] = g.pick("app", "side", fmt.Sprintf("c%d", i), "", nil, json.Number("7"), `we"ird`)
	}
	if g.next()%8 > 0 {
		c["image"] = g.pick(genImages...)
	}
	if g.next()%4 > 0 {
		switch g.next() % 6 {
		case 0:
			c["resources"] = g.pick(nil, "x", []any{})
		default:
			c["resources"] = map[string]any{"requests": g.quantities(), "limits": g.quantities()}
		}
	}
	for _, k := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		if g.next()%3 > 0 {
			c[k] = g.probe()
		}
	}
	if g.next()%3 == 0 {
		c["restartPolicy"] = g.pick("Always", "Never", nil, "always", json.Number("1"))
	}
	return c
}

func (g *podGen) pod() map[string]any {
	spec := map[string]any{}
	for _, typ := range []string{"containers", "initContainers", "ephemeralContainers"} {
		switch g.next() % 6 {
		case 0:
			continue
		case 1:
			spec[typ] = g.pick(nil, "x", map[string]any{"name": "x"}, []any{})
			continue
		}
		list := []any{}
		for i := range g.next() % 5 {
			list = append(list, g.container(i))
		}
		spec[typ] = list
	}
	labels := map[string]any{}
	for _, k := range []string{"app.kubernetes.io/name", "team", "tier"} {
		if g.next()%2 == 0 {
			labels[k] = g.pick("web", "", "Bad_Value", nil, json.Number("1"))
		}
	}
	meta := map[string]any{"name": "p", "namespace": g.pick("default", "legacy-1", "prod", "")}
	switch g.next() % 8 {
	case 0:
	case 1:
		meta["labels"] = g.pick(nil, "x", []any{})
	default:
		meta["labels"] = labels
	}
	var podSpec any = spec
	if g.next()%16 == 0 {
		podSpec = g.pick(nil, "x", []any{})
	}
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": podSpec}
	switch g.next() % 6 {
	case 0:
		return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "d", "namespace": "default"},
			"spec": map[string]any{"template": map[string]any{"metadata": pod["metadata"], "spec": podSpec}}}
	case 1:
		return map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": "c"},
			"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": pod["metadata"], "spec": podSpec}}}}}
	}
	return pod
}

var (
	fuzzEngineOnce sync.Once
	fuzzEngine     *engine.Engine
	fuzzEngineErr  error
)

// FuzzDecision evaluates generated Pods and workloads with the built-in policies and the
// default configuration. Every object, however malformed, gets a decision and defaults
// without an error (an error is a 500 for the API server); every violation is complete
// and points into the object; mutation never overwrites a value, its output passes the
// resource rules it fills in, and mutating that output adds nothing.
func FuzzDecision(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []byte("podguard fuzzes pods and workloads"),
		{2, 2, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		{5, 5, 5, 9, 9, 9, 200, 13, 255, 0, 0, 7, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzEngineOnce.Do(func() { fuzzEngine, fuzzEngineErr = engine.Load(t.Context(), engine.Options{}) })
		if fuzzEngineErr != nil {
			t.Fatal(fuzzEngineErr)
		}
		e := fuzzEngine
		g := &podGen{b: data}
		raw, err := json.Marshal(g.pod())
		if err != nil {
			t.Fatal(err)
		}
		obj, err := engine.Decode(raw)
		if err != nil {
			t.Fatalf("decoding a generated object: %v", err)
		}
		prefix := map[string]string{"Pod": "", "Deployment": "spec.template.", "CronJob": "spec.jobTemplate.spec.template."}[obj.Kind]

		d, err := e.Judge(t.Context(), obj, engine.Namespace{})
		if err != nil {
			t.Fatalf("Judge: %v\nobject: %s", err, raw)
		}
		for list, enforcement := range map[*[]engine.Violation]string{&d.Deny: "deny", &d.Warn: "warn", &d.Audit: "audit"} {
			for _, v := range *list {
				if !slices.Contains(e.Rules(), v.Rule) || v.Enforcement != enforcement || v.Message == "" || v.Fix == "" {
					t.Fatalf("incomplete or misfiled violation %+v in %s\nobject: %s", v, enforcement, raw)
				}
				if !strings.HasPrefix(v.Field, prefix+"spec.") && !strings.HasPrefix(v.Field, prefix+"metadata.labels") {
					t.Fatalf("violation field %q is not in the object's pod (prefix %q)\nobject: %s", v.Field, prefix, raw)
				}
			}
		}

		before := string(obj.JSON())
		mutated, adds, err := e.Mutate(t.Context(), obj)
		if err != nil {
			t.Fatalf("Mutate: %v\nobject: %s", err, raw)
		}
		if string(obj.JSON()) != before {
			t.Fatalf("Mutate changed its input")
		}
		if len(adds) > 0 {
			mo, err := engine.Decode(mutated)
			if err != nil {
				t.Fatalf("decoding the mutated object: %v", err)
			}
			_, again, err := e.Mutate(t.Context(), mo)
			if err != nil {
				t.Fatalf("Mutate of the mutated object: %v", err)
			}
			if len(again) > 0 {
				t.Fatalf("mutating the output again adds %+v\nobject: %s", again, raw)
			}
			md, err := e.Judge(t.Context(), mo, engine.Namespace{})
			if err != nil {
				t.Fatalf("Judge of the mutated object: %v", err)
			}
			// With the default configuration the defaults cover cpu and memory, requests and
			// limits, of every container and init container that can carry resources;
			// except where the value they would be capped by cannot be read, which is a
			// violation of its own.
			unreadable := map[string]bool{}
			for _, v := range md.All() {
				if strings.Contains(v.Message, "is not a quantity") || strings.Contains(v.Message, "is larger than") {
					unreadable[containerOf(v.Field)] = true
				}
			}
			for _, v := range md.All() {
				if (v.Rule == "resources-requests" || v.Rule == "resources-limits") && strings.HasSuffix(v.Message, "is not set") &&
					!unreadable[containerOf(v.Field)] {
					t.Fatalf("the defaults left %s\nobject: %s", v, raw)
				}
			}
		}
		if obj.Kind != "Pod" {
			if _, _, err := e.Admitted(t.Context(), obj, engine.Namespace{}); err != nil {
				t.Fatalf("Admitted: %v\nobject: %s", err, raw)
			}
		}
	})
}

// containerOf is the field path of the container a field is in.
func containerOf(field string) string {
	if i := strings.Index(field, "].resources."); i >= 0 {
		return field[:i+1]
	}
	return field
}

// isNull reports whether resources.<section>.<resource> of a container is set to JSON
// null, which the Rego treats as "not set", so the mutation must replace it.
func isNull(t *testing.T, raw []byte, containerType string, index int, section, resource string) bool {
	var o map[string]any
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	spec := o["spec"]
	switch o["kind"] {
	case "Deployment":
		spec = dig(o, "spec", "template", "spec")
	case "CronJob":
		spec = dig(o, "spec", "jobTemplate", "spec", "template", "spec")
	}
	list, _ := dig(spec, containerType).([]any)
	if index >= len(list) {
		return false
	}
	m, _ := dig(list[index], "resources", section).(map[string]any)
	v, ok := m[resource]
	return ok && v == nil
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// TestMutateFillsNull is the regression test of the first crasher FuzzDecision found
// (testdata/fuzz/FuzzDecision/c403053464f00493): a resource value that is null counts as
// not set for the rules and the defaults, so the mutation must fill it in, as it fills "".
func TestMutateFillsNull(t *testing.T) {
	e, err := engine.Load(t.Context(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := engine.Decode([]byte(`{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"app","image":"app:1",
		"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"500m","memory":null}}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	mutated, _, err := e.Mutate(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if isNull(t, mutated, "containers", 0, "limits", "memory") {
		t.Error("Engine.Mutate left limits.memory null although the defaults add it")
	}
}
