package chart

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPodsPassPodguardEval runs the real podguard binary's offline check, with podguard's
// own default policies, over everything each value set renders: podguard's Deployment
// and the helm test Pod must be admitted as written, without relying on the mutating
// webhook's defaults (so they pass even where that webhook is off or down).
func TestPodsPassPodguardEval(t *testing.T) {
	for _, set := range valueSets(t) {
		t.Run(set.name, func(t *testing.T) {
			r := render(t, Options{ValueFiles: set.files})
			code, results := podguardEval(t, YAMLStream(append(append([]Object{}, r.Objects...), r.Hooks...)))
			if code != 0 {
				t.Errorf("podguard eval exit %d, want 0", code)
			}
			var checked []string
			for _, res := range results {
				if res.Verdict == "not checked" || res.Verdict == "skip" || res.Kind != "Deployment" && res.Kind != "Pod" {
					continue
				}
				checked = append(checked, res.Kind+"/"+res.Name)
				if res.Verdict != "admit" || len(res.Violations) != 0 {
					t.Errorf("%s/%s: verdict %s, violations %+v", res.Kind, res.Name, res.Verdict, res.Violations)
				}
			}
			slices.Sort(checked)
			if want := []string{"Deployment/podguard", "Pod/podguard-test"}; !slices.Equal(checked, want) {
				t.Errorf("podguard eval checked %v, want %v", checked, want)
			}
		})
	}
}

// TestRenderedConfigAccepted loads the configuration and the custom Rego that the
// custom-config value set puts into the ConfigMaps the way the Pods mount them, and checks
// that podguard accepts both and enforces the custom rule.
func TestRenderedConfigAccepted(t *testing.T) {
	r := render(t, Options{ValueFiles: []string{filepath.Join(Dir(), "ci", "custom-config-values.yaml")}})
	flags := mountedFlags(t, r, "--config", "--policy-dir")
	pod := []byte(`apiVersion: v1
kind: Pod
metadata: {name: host, namespace: team-a, labels: {app.kubernetes.io/name: host}}
spec:
  hostNetwork: true
  containers:
    - name: app
      image: registry.k8s.io/pause:3.10
      resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 10m, memory: 16Mi}}
      livenessProbe: {tcpSocket: {port: 8080}}
      readinessProbe: {tcpSocket: {port: 8080}}
`)
	code, res := podguardEval(t, pod, flags...)
	if code != 1 || len(res) != 1 || len(res[0].Violations) != 1 || res[0].Violations[0].Rule != "no-host-network" {
		t.Errorf("exit %d, results %+v; want refused by the custom rule no-host-network only", code, res)
	}
}

// mountedFlags returns the flags of podguard's container with those names, as the
// container gets them, with the ConfigMaps it mounts written to a temporary directory and
// their paths made local. The test ends unless there is one of each.
func mountedFlags(t *testing.T, r *Release, names ...string) []string {
	t.Helper()
	d, err := r.Deployment()
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := r.MountConfigMaps(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	var flags []string
	for _, a := range LocalArgs(args, mounts) {
		if name, _, _ := strings.Cut(a, "="); slices.Contains(names, name) {
			flags = append(flags, a)
		}
	}
	if len(flags) != len(names) {
		t.Fatalf("container args %v lack one of %v", args, names)
	}
	return flags
}
