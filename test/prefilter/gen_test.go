package prefilter_test

import (
	"encoding/json"
	"fmt"
)

// gen turns bytes into a Pod or a workload of any kind podguard judges. It is not
// policies/engine's fuzz generator (podGen in decision_fuzz_test.go), and must not become
// it: that one spreads its choices evenly over odd shapes (nulls, wrong types, missing
// names) to find objects the engine cannot judge, so fewer of its objects are free of
// findings (on TestSkipsAreAllowedUnchanged's corpus it gave 42 /validate skips in 4,000
// under the default configuration and 7 under rich.yaml; this one gives 142 and 76). This
// one makes objects close to compliant (mostly picks the compliant value 15 times in 16;
// probes mostly use a handler the rules accept), with pod-level resources and every
// workload kind, because a skip is what is under test. The two share only the byte reader
// (next, pick) and part of the value lists; the engine's lives in a _test.go file of the
// main module, which this module cannot import.
type gen struct {
	b []byte
	i int
}

func (g *gen) next() int {
	if g.i >= len(g.b) {
		return 0
	}
	g.i++
	return int(g.b[g.i-1])
}

func (g *gen) pick(options ...any) any { return options[g.next()%len(options)] }

// mostly picks the first option 15 times in 16, else any.
func (g *gen) mostly(first any, others ...any) any {
	n := g.next()
	if n%16 != 15 || len(others) == 0 {
		return first
	}
	return others[(n/16)%len(others)]
}

var (
	quantities = []any{"100m", "1", "0", "500m", "128Mi", "1Gi", "256Mi", "2G", "1e3", "250u", "5n", "1.5", "+1", "1Ki",
		"", nil, "abc", "1 Gi", "--1", "1x", "1e99999", json.Number("0.5"), json.Number("2"), true, map[string]any{},
		"50m", "64Mi", "2", "3Gi", "1001m", "0.05", "100Mi", "20Gi"}
	images = []any{"nginx", "nginx:latest", "nginx:1.27", "registry:5000/app", "registry:5000/app:latest", "app@sha256:abc",
		"app:latest@sha256:abc", "a/b/c:", "", nil, "registry.k8s.io/pause:3.9", "x:y:z", "@", ":", "busybox:LATEST", "repo/app:v1@",
		json.Number("42"), "ünïcode:látest", "app@", "/", "a//b:c", "app:dev", "x::", "registry.k8s.io/pause", "a:b/c"}
	handlers = []string{"exec", "httpGet", "tcpSocket", "grpc", "sleep"}
	kinds    = [][3]string{
		{"apps/v1", "Deployment", "spec.template"}, {"apps/v1", "StatefulSet", "spec.template"},
		{"apps/v1", "DaemonSet", "spec.template"}, {"apps/v1", "ReplicaSet", "spec.template"},
		{"v1", "ReplicationController", "spec.template"}, {"batch/v1", "Job", "spec.template"},
		{"batch/v1", "CronJob", "spec.jobTemplate.spec.template"}, {"apps/v1beta2", "Deployment", "spec.template"},
		{"example.com/v1", "Deployment", "spec.template"},
	}
)

func (g *gen) quantity(resource string) any {
	good := map[string]any{"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "1Gi"}[resource]
	return g.mostly(good, quantities...)
}

func (g *gen) quantities() any {
	switch g.next() % 24 {
	case 0:
		return nil
	case 1:
		return g.pick("x", []any{"cpu"}, json.Number("1"))
	}
	m := map[string]any{}
	for _, r := range []string{"cpu", "memory", "ephemeral-storage"} {
		if g.next()%12 > 0 {
			m[r] = g.quantity(r)
		}
	}
	return m
}

func (g *gen) probe() any {
	switch g.next() % 24 {
	case 0:
		return nil
	case 1:
		return g.pick("x", json.Number("1"), []any{})
	case 2:
		return map[string]any{}
	}
	p := map[string]any{"periodSeconds": json.Number("10")}
	h := handlers[g.next()%2+1]
	if g.next()%8 == 0 {
		h = handlers[g.next()%len(handlers)]
	}
	p[h] = g.mostly(map[string]any{"port": json.Number("8080")}, nil, map[string]any{}, "x")
	for _, h := range handlers {
		if g.next()%5 == 0 {
			p[h] = g.pick(map[string]any{"port": json.Number("8080")}, nil, map[string]any{}, "x")
		}
	}
	return p
}

func (g *gen) container(i int) any {
	if g.next()%24 == 0 {
		return g.pick(nil, "app", json.Number("3"), []any{})
	}
	c := map[string]any{"name": fmt.Sprintf("c%d", i)}
	if g.next()%8 == 0 {
		c["name"] = g.pick("app", "", nil, json.Number("7"), `we"ird`)
	}
	c["image"] = g.mostly("registry.example/app:1.2", images...)
	if g.next()%16 > 0 {
		if g.next()%16 == 0 {
			c["resources"] = g.pick(nil, "x", []any{})
		} else {
			c["resources"] = map[string]any{"requests": g.quantities(), "limits": g.quantities()}
		}
	}
	for _, k := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		if g.next()%16 > 0 {
			c[k] = g.probe()
		}
	}
	if g.next()%3 == 0 {
		c["restartPolicy"] = g.mostly("Always", "Never", nil, "always", json.Number("1"))
	}
	return c
}

func (g *gen) object() map[string]any {
	spec := map[string]any{}
	for _, typ := range []string{"containers", "initContainers", "ephemeralContainers"} {
		n := g.next()
		if typ != "containers" && n%3 > 0 {
			continue
		}
		if n%11 == 1 {
			spec[typ] = g.pick(nil, "x", map[string]any{"name": "x"}, []any{})
			continue
		}
		list := []any{}
		for i := range 1 + g.next()%3 {
			list = append(list, g.container(i))
		}
		spec[typ] = list
	}
	if g.next()%6 == 0 {
		spec["resources"] = g.pick(
			map[string]any{"requests": g.quantities()},
			map[string]any{"limits": g.quantities()},
			map[string]any{"requests": g.quantities(), "limits": g.quantities()},
			nil, "x", map[string]any{})
	}
	labels := map[string]any{}
	if g.next()%12 > 0 {
		labels["app.kubernetes.io/name"] = g.mostly("web", "", "Bad_Value", nil, json.Number("1"))
	}
	if g.next()%12 > 0 {
		labels["team"] = g.mostly("core", "", "Bad_Value", nil, json.Number("1"))
	}
	meta := map[string]any{"name": "p"}
	switch g.next() % 24 {
	case 0:
	case 1:
		meta["labels"] = g.pick(nil, "x", []any{})
	default:
		meta["labels"] = labels
	}
	var podSpec any = spec
	if g.next()%24 == 0 {
		podSpec = g.pick(nil, "x", []any{})
	}
	if g.next()%2 == 0 {
		return map[string]any{"apiVersion": g.mostly("v1", "v2", nil, ""), "kind": "Pod", "metadata": meta, "spec": podSpec}
	}
	k := kinds[g.next()%len(kinds)]
	template := map[string]any{"metadata": meta, "spec": podSpec}
	obj := map[string]any{"apiVersion": k[0], "kind": k[1], "metadata": map[string]any{"name": "w"}}
	if k[2] == "spec.template" {
		obj["spec"] = map[string]any{"template": template}
	} else {
		obj["spec"] = map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}
	}
	return obj
}
