package engine_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podguard/podguard/policies/engine"
)

// podTemplate has one problem per container kind: the app container lacks a liveness
// probe, the native sidecar a readiness probe, the plain init container uses :latest.
// The plain init container lacks probes too, which must not count.
const podTemplate = `{
  "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
  "spec": {
    "initContainers": [
      {"name": "migrate", "image": "migrate:latest"},
      {"name": "proxy", "image": "proxy:1.0", "restartPolicy": "Always",
       "livenessProbe": {"tcpSocket": {"port": 1}}}
    ],
    "containers": [
      {"name": "app", "image": "app:1.0", "readinessProbe": {"tcpSocket": {"port": 1}}}
    ]
  }
}`

func wrap(kind, path string) map[string]any {
	var tmpl map[string]any
	if err := json.Unmarshal([]byte(podTemplate), &tmpl); err != nil {
		panic(err)
	}
	obj := map[string]any{"kind": kind, "metadata": map[string]any{"name": "x", "namespace": "shop"}}
	if kind == "Pod" {
		obj["metadata"].(map[string]any)["labels"] = tmpl["metadata"].(map[string]any)["labels"]
		obj["spec"] = tmpl["spec"]
		return obj
	}
	cur := obj
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next := map[string]any{}
		cur[k] = next
		cur = next
	}
	cur[keys[len(keys)-1]] = tmpl
	return obj
}

func TestEveryKindJudgedByItsPodTemplate(t *testing.T) {
	e := load(t, engine.Options{})
	tests := map[string]struct {
		kind, templatePath, prefix string
	}{
		"Pod":                   {"Pod", "", "spec"},
		"Deployment":            {"Deployment", "spec.template", "spec.template.spec"},
		"StatefulSet":           {"StatefulSet", "spec.template", "spec.template.spec"},
		"DaemonSet":             {"DaemonSet", "spec.template", "spec.template.spec"},
		"ReplicaSet":            {"ReplicaSet", "spec.template", "spec.template.spec"},
		"ReplicationController": {"ReplicationController", "spec.template", "spec.template.spec"},
		"Job":                   {"Job", "spec.template", "spec.template.spec"},
		"CronJob":               {"CronJob", "spec.jobTemplate.spec.template", "spec.jobTemplate.spec.template.spec"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := engine.FromMap(wrap(tc.kind, tc.templatePath))
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Evaluate(t.Context(), o, engine.Namespace{}, engine.AsAdmitted)
			if err != nil {
				t.Fatal(err)
			}
			p := tc.prefix
			want := []string{
				`[image-tag] container "migrate": image "migrate:latest" uses the disallowed tag "latest" (` + p + `.initContainers[0].image). Fix: use a version tag or a digest instead of "latest", e.g. "migrate:<version>"`,
				`[liveness-probe] container "app": livenessProbe is not set (` + p + `.containers[0].livenessProbe). Fix: set livenessProbe (handler: exec, httpGet, tcpSocket or grpc), so the kubelet restarts the container when it stops responding`,
				`[readiness-probe] container "proxy": readinessProbe is not set (` + p + `.initContainers[1].readinessProbe). Fix: set readinessProbe (handler: exec, httpGet, tcpSocket or grpc), so Services send traffic only when the container is ready to serve it`,
			}
			if got := strs(d.Deny); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("deny:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestWorkloadLabelsComeFromTheTemplate(t *testing.T) {
	e := load(t, engine.Options{})
	obj := wrap("Deployment", "spec.template")
	// The Deployment's own labels do not count: its Pods carry the template's.
	obj["metadata"].(map[string]any)["labels"] = map[string]any{"app.kubernetes.io/name": "web"}
	delete(obj["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any), "labels")
	o, err := engine.FromMap(obj)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Judge(t.Context(), o, engine.Namespace{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range d.Deny {
		if v.Rule == "required-labels" && v.Field == `spec.template.metadata.labels["app.kubernetes.io/name"]` {
			found = true
		}
	}
	if !found {
		t.Errorf("template without labels not denied for required-labels: %q", strs(d.Deny))
	}
}

// TestClusterDefaults: the object as the cluster stores it, with the API server's and the
// LimitRanges' defaults (and none of podguard's, which are off here).
func TestClusterDefaults(t *testing.T) {
	dir := writeFiles(t, map[string]string{"config.yaml": "defaults: {resources: null}"})
	e := load(t, engine.Options{ConfigFile: filepath.Join(dir, "config.yaml")})
	container := func(items ...corev1.LimitRangeItem) []corev1.LimitRange {
		return []corev1.LimitRange{{Spec: corev1.LimitRangeSpec{Limits: items}}}
	}
	lr := container(
		corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}},
		corev1.LimitRangeItem{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("300Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		},
	)
	tests := map[string]struct {
		resources string
		ranges    []corev1.LimitRange
		want      string
	}{
		"requests default to limits": {
			resources: `{"limits": {"cpu": "1", "memory": "1Gi"}}`,
			want:      `{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1","memory":"1Gi"}}`,
		},
		"LimitRange fills what is missing; max stands in for a missing default": {
			resources: `{}`,
			ranges:    lr,
			want:      `{"limits":{"cpu":"2","memory":"300Mi"},"requests":{"cpu":"50m","memory":"300Mi"}}`,
		},
		"a set value is kept": {
			resources: `{"requests": {"cpu": "10m"}, "limits": {"memory": "1Gi"}}`,
			ranges:    lr,
			want:      `{"limits":{"cpu":"2","memory":"1Gi"},"requests":{"cpu":"10m","memory":"1Gi"}}`,
		},
		"no resources and no LimitRange stays empty": {
			resources: `{}`,
			want:      `{}`,
		},
		// SetDefaults_LimitRangeItem, one step each.
		"item defaulting: max becomes the default limit, and so the default request": {
			ranges: container(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}),
			want:   `{"limits":{"memory":"1Gi"},"requests":{"memory":"1Gi"}}`,
		},
		"item defaulting: the default limit becomes the default request": {
			ranges: container(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")}}),
			want:   `{"limits":{"cpu":"300m"},"requests":{"cpu":"300m"}}`,
		},
		"item defaulting: min becomes the default request when there is no default": {
			ranges: container(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m")}}),
			want:   `{"requests":{"cpu":"20m"}}`,
		},
		"item defaulting: a default request is not replaced by min": {
			ranges: container(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
				Min:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m")},
				DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("30m")},
			}),
			want: `{"requests":{"cpu":"30m"}}`,
		},
		"item defaulting: the default limit comes before min for the request": {
			ranges: container(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
				Min:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m")},
				Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("400m")},
			}),
			want: `{"limits":{"cpu":"400m"},"requests":{"cpu":"400m"}}`,
		},
		"pod items do not apply to containers": {
			ranges: container(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}),
			want:   `{}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.resources == "" {
				tc.resources = `{}`
			}
			var res map[string]any
			if err := json.Unmarshal([]byte(tc.resources), &res); err != nil {
				t.Fatal(err)
			}
			o, err := engine.FromMap(map[string]any{"kind": "Pod", "spec": map[string]any{
				"containers": []any{map[string]any{"name": "a", "resources": res}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			before := string(o.JSON())
			out, adds, err := e.Admitted(t.Context(), o, engine.Namespace{LimitRanges: tc.ranges})
			if err != nil {
				t.Fatal(err)
			}
			if len(adds) != 0 {
				t.Errorf("podguard added %v with its defaults off", adds)
			}
			var m map[string]any
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatal(err)
			}
			got := mustMarshal(t, m["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["resources"])
			if string(got) != tc.want {
				t.Errorf("resources %s, want %s", got, tc.want)
			}
			if string(o.JSON()) != before {
				t.Error("Admitted changed its input")
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKindsByGroup: a kind is podguard's by its API group and name together; a Job of
// another group (Volcano's batch.volcano.sh) is not a batch Job and is not judged.
func TestKindsByGroup(t *testing.T) {
	tests := map[string]struct {
		apiVersion, kind string
		judged           bool
	}{
		"core Pod":                      {"v1", "Pod", true},
		"apps Deployment":               {"apps/v1", "Deployment", true},
		"batch Job":                     {"batch/v1", "Job", true},
		"batch CronJob":                 {"batch/v1", "CronJob", true},
		"core ReplicationController":    {"v1", "ReplicationController", true},
		"Volcano Job":                   {"batch.volcano.sh/v1alpha1", "Job", false},
		"a Deployment of another group": {"example.com/v1", "Deployment", false},
		"a Pod of another group":        {"metrics.k8s.io/v1beta1", "Pod", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := engine.Supported(engine.Group(tc.apiVersion), tc.kind); got != tc.judged {
				t.Errorf("Supported = %v, want %v", got, tc.judged)
			}
			_, err := engine.FromMap(map[string]any{"apiVersion": tc.apiVersion, "kind": tc.kind, "metadata": map[string]any{"name": "x"},
				"spec": map[string]any{"template": map[string]any{"spec": map[string]any{}}}})
			if (err == nil) != tc.judged {
				t.Errorf("FromMap error %v, judged %v", err, tc.judged)
			}
			if err != nil && err.Error() != tc.apiVersion+" "+tc.kind+" is not checked by podguard" {
				t.Errorf("error %q", err)
			}
		})
	}
}
