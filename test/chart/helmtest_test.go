package chart

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestHelmTestPod checks the `helm test` Pod of every value set: it runs `podguard
// selftest` in podguard's own image, with the configuration and custom rules podguard's
// Deployment mounts, against tests.namespace, and may create Pods there and read that one
// Namespace, nothing more. The certmanager package runs its command against a real API
// server.
func TestHelmTestPod(t *testing.T) {
	for _, set := range valueSets(t) {
		t.Run(set.name, func(t *testing.T) {
			r := render(t, Options{ValueFiles: set.files})
			vals := mergedValues(t, set.files)
			ns := vals["tests"].(map[string]any)["namespace"].(string)
			if ns == "" {
				// A namespace of the test's own, created first and deleted with it.
				ns = "podguard-test"
				o, ok := r.Find("Namespace", ns)
				if !ok || o.GetAnnotations()["helm.sh/hook"] != "test" || o.GetAnnotations()["helm.sh/hook-weight"] != "-10" {
					t.Errorf("no test hook Namespace %s before the others", ns)
				}
			} else if _, ok := r.Find("Namespace", ns); ok {
				t.Errorf("Namespace %s rendered; tests.namespace names an existing one", ns)
			}
			d, err := r.Deployment()
			if err != nil {
				t.Fatal(err)
			}
			o, ok := r.Find("Pod", "podguard-test")
			if !ok {
				t.Fatal("no podguard-test Pod among the hooks")
			}
			var pod corev1.Pod
			if err := o.Into(&pod); err != nil {
				t.Fatal(err)
			}
			if pod.Annotations["helm.sh/hook"] != "test" {
				t.Errorf("hook annotation %q", pod.Annotations["helm.sh/hook"])
			}
			c := pod.Spec.Containers[0]
			server := d.Spec.Template.Spec.Containers[0]
			if c.Image != server.Image {
				t.Errorf("test image %s, podguard's %s", c.Image, server.Image)
			}
			want := []string{"selftest", "--namespace=" + ns, "--config=/etc/podguard/config/config.yaml",
				"--policy-dir=/etc/podguard/policies", "--image=" + server.Image, "--webhook=validate.podguard.io"}
			if !slices.Equal(c.Args, want) {
				t.Errorf("args %q, want %q", c.Args, want)
			}
			// The same ConfigMaps at the same paths as the webhook, so the test builds its
			// Pods from what podguard enforces.
			mounts := func(spec corev1.PodSpec, c corev1.Container) map[string]string {
				out := map[string]string{}
				for _, m := range c.VolumeMounts {
					for _, v := range spec.Volumes {
						if v.Name == m.Name && v.ConfigMap != nil {
							out[m.MountPath] = v.ConfigMap.Name
						}
					}
				}
				return out
			}
			got, served := mounts(pod.Spec, c), mounts(d.Spec.Template.Spec, server)
			for _, p := range []string{"/etc/podguard/config", "/etc/podguard/policies"} {
				if got[p] == "" || got[p] != served[p] {
					t.Errorf("%s: test mounts ConfigMap %q, podguard %q", p, got[p], served[p])
				}
			}
			sa := pod.Spec.ServiceAccountName
			var rules []string
			for _, h := range r.Hooks {
				switch h.GetKind() {
				case "Role", "ClusterRole":
					var role rbacv1.ClusterRole
					if err := h.Into(&role); err != nil {
						t.Fatal(err)
					}
					for _, pr := range role.Rules {
						rules = append(rules, fmt.Sprintf("%s %s/%s %v %v %v", h.GetKind(), h.GetNamespace(), strings.Join(pr.APIGroups, ","), pr.Resources, pr.ResourceNames, pr.Verbs))
					}
				case "RoleBinding", "ClusterRoleBinding":
					var b rbacv1.ClusterRoleBinding
					if err := h.Into(&b); err != nil {
						t.Fatal(err)
					}
					if len(b.Subjects) != 1 || b.Subjects[0].Name != sa || b.Subjects[0].Namespace != "podguard-system" {
						t.Errorf("%s %s binds %v, want only the test's ServiceAccount %s", h.GetKind(), h.GetName(), b.Subjects, sa)
					}
				}
			}
			slices.Sort(rules)
			wantRules := []string{
				"ClusterRole / [namespaces] [" + ns + "] [get]",
				"Role " + ns + "/ [pods] [] [create]",
			}
			if !slices.Equal(rules, wantRules) {
				t.Errorf("test RBAC %q, want %q", rules, wantRules)
			}
		})
	}
}

// TestOnlyPodguardImage checks that nothing the chart installs or runs for `helm test`
// names an image other than podguard's own, so an install needs one image only.
func TestOnlyPodguardImage(t *testing.T) {
	for _, set := range valueSets(t) {
		t.Run(set.name, func(t *testing.T) {
			r := render(t, Options{ValueFiles: set.files})
			d, err := r.Deployment()
			if err != nil {
				t.Fatal(err)
			}
			want := d.Spec.Template.Spec.Containers[0].Image
			if set.name == "default" {
				c, err := Load()
				if err != nil {
					t.Fatal(err)
				}
				if want != "ghcr.io/podguard/podguard:"+c.Metadata.AppVersion {
					t.Errorf("podguard image %s, want the chart's appVersion", want)
				}
			}
			found := 0
			for _, o := range append(append([]Object{}, r.Objects...), r.Hooks...) {
				walk(o.Object, func(key string, v any) {
					if key == "image" {
						found++
						if v != want {
							t.Errorf("%s %s runs image %v, not podguard's %s", o.GetKind(), o.GetName(), v, want)
						}
					}
				})
			}
			if found != 2 {
				t.Errorf("%d images found, want 2 (the Deployment and the helm test Pod)", found)
			}
		})
	}
}

// walk calls f for every key and value in a decoded YAML tree.
func walk(v any, f func(key string, v any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			f(k, sub)
			walk(sub, f)
		}
	case []any:
		for _, sub := range x {
			walk(sub, f)
		}
	}
}
