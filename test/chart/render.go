package chart

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// KubeVersion is the cluster version rendering assumes; it matches the kube-apiserver the
// end-to-end tests run.
const KubeVersion = "v1.37.2"

// Dir returns charts/podguard of this checkout.
func Dir() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "charts", "podguard")
}

// Options says how to render.
type Options struct {
	ReleaseName string // default "podguard"
	Namespace   string // default "podguard-system"
	// ValueFiles are merged in order, then Values over them (like -f and --set).
	ValueFiles []string
	Values     map[string]any
	// APIVersions are extra group/versions (or group/version/Kind) the cluster is said to
	// serve, e.g. "monitoring.coreos.com/v1".
	APIVersions []string
	// KubeVersion is the cluster's version; empty means KubeVersion.
	KubeVersion string
	// SDK renders with Helm 3 (empty) or Helm 4.
	SDK SDK
	// Umbrella is the directory of a chart that gets podguard as its dependency and is
	// rendered instead, as an umbrella chart would be.
	Umbrella string
}

// Object is one rendered document.
type Object struct {
	// Source is the template it came from, e.g. podguard/templates/deployment.yaml.
	Source string
	YAML   string
	*unstructured.Unstructured
}

// Release is a rendered chart: what `helm install` applies, the `helm test` hooks and
// NOTES.txt.
type Release struct {
	Objects []Object
	Hooks   []Object
	Notes   string
}

// Render renders the chart client-side, as `helm install --dry-run` does, with the values
// checked against values.schema.json.
func Render(ctx context.Context, o Options) (*Release, error) {
	if o.ReleaseName == "" {
		o.ReleaseName = "podguard"
	}
	if o.Namespace == "" {
		o.Namespace = "podguard-system"
	}
	vals, err := mergeValues(o.ValueFiles, o.Values)
	if err != nil {
		return nil, err
	}
	if o.KubeVersion == "" {
		o.KubeVersion = KubeVersion
	}
	if o.SDK == Helm4 {
		return render4(ctx, o, vals)
	}
	c, err := loadChart(loader.Load, o.Umbrella)
	if err != nil {
		return nil, err
	}
	kv, err := chartutil.ParseKubeVersion(o.KubeVersion)
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.ClientOnly = true
	install.DryRun = true
	install.ReleaseName = o.ReleaseName
	install.Namespace = o.Namespace
	install.KubeVersion = kv
	install.APIVersions = o.APIVersions
	rel, err := install.RunWithContext(ctx, c, vals)
	if err != nil {
		return nil, err
	}
	var notes string
	if rel.Info != nil {
		notes = rel.Info.Notes
	}
	return toRelease(notes, rel.Manifest, rel.Hooks, func(h *release.Hook) (string, string) { return h.Path, h.Manifest })
}

// loadChart loads the chart with either SDK's loader; with umbrella set, as that chart's
// dependency, and returns the umbrella chart.
func loadChart[C interface{ AddDependency(...C) }](load func(string) (C, error), umbrella string) (C, error) {
	c, err := load(Dir())
	if err != nil || umbrella == "" {
		return c, err
	}
	u, err := load(umbrella)
	if err != nil {
		return u, err
	}
	u.AddDependency(c)
	return u, nil
}

// Lint runs `helm lint` on the chart with the values, in namespace, as the SDK does it.
func Lint(sdk SDK, namespace string, vals map[string]any, strict bool) (*LintResult, error) {
	if sdk == Helm4 {
		return lint4(namespace, vals, strict)
	}
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	l := action.NewLint()
	l.Namespace, l.KubeVersion, l.Strict = namespace, kv, strict
	// A template's fail is no lint error: Helm 3 logs it as "[INFO] Fail: ...".
	var logged bytes.Buffer
	log.SetOutput(&logged)
	res := l.Run([]string{Dir()}, vals)
	log.SetOutput(os.Stderr)
	out := &LintResult{Errors: res.Errors, Linted: res.TotalChartsLinted, Logged: logged.String()}
	for _, m := range res.Messages {
		out.Messages = append(out.Messages, LintMessage{Severity: m.Severity, Text: m.Error()})
	}
	return out, nil
}

// Load returns the chart as Helm reads it.
func Load() (*helmchart.Chart, error) { return loader.Load(Dir()) }

func mergeValues(files []string, set map[string]any) (map[string]any, error) {
	vals, err := (&values.Options{ValueFiles: files}).MergeValues(getter.Providers{})
	if err != nil {
		return nil, err
	}
	return chartutil.MergeTables(deepCopy(set), vals), nil
}

// deepCopy keeps MergeTables from writing into the caller's map.
func deepCopy(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = deepCopy(sub)
		}
		out[k] = v
	}
	return out
}

// toRelease is the Release of a dry run with either SDK: its notes, its manifest and its
// hooks, each with the path of its template and its manifest.
func toRelease[H any](notes, manifest string, hooks []H, hook func(H) (path, manifest string)) (*Release, error) {
	r := &Release{Notes: notes}
	var err error
	if r.Objects, err = splitManifest(manifest); err != nil {
		return nil, err
	}
	for _, h := range hooks {
		path, manifest := hook(h)
		objs, err := splitManifest(manifest)
		if err != nil {
			return nil, err
		}
		for i := range objs {
			objs[i].Source = path
		}
		r.Hooks = append(r.Hooks, objs...)
	}
	sort.SliceStable(r.Hooks, func(i, j int) bool { return r.Hooks[i].Source < r.Hooks[j].Source })
	return r, nil
}

// splitManifest parses Helm's manifest stream; each document starts with a
// "# Source: <template>" comment.
func splitManifest(manifest string) ([]Object, error) {
	rd := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var objs []Object
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		text := strings.TrimSpace(string(doc))
		if text == "" || text == "---" {
			continue
		}
		text = strings.TrimPrefix(text, "---\n")
		var source string
		if first, rest, _ := strings.Cut(text, "\n"); strings.HasPrefix(first, "# Source: ") {
			source, text = strings.TrimPrefix(first, "# Source: "), rest
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		objs = append(objs, Object{Source: source, YAML: text + "\n", Unstructured: u})
	}
}

// Find returns the object of that kind and name among the applied objects and the hooks.
func (r *Release) Find(kind, name string) (Object, bool) {
	for _, o := range append(append([]Object{}, r.Objects...), r.Hooks...) {
		if o.GetKind() == kind && o.GetName() == name {
			return o, true
		}
	}
	return Object{}, false
}

// Kinds lists "Kind/name" of the applied objects, in order.
func (r *Release) Kinds() []string {
	var out []string
	for _, o := range r.Objects {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

// Into decodes an object into a typed one (a Deployment, a webhook configuration).
func (o Object) Into(v any) error {
	return yaml.Unmarshal([]byte(o.YAML), v)
}

// YAMLStream joins objects into one multi-document YAML.
func YAMLStream(objs []Object) []byte {
	var b bytes.Buffer
	for _, o := range objs {
		b.WriteString("---\n# Source: " + o.Source + "\n")
		b.WriteString(o.YAML)
	}
	return b.Bytes()
}

// WriteFile is os.WriteFile for a rendered stream, creating the directory.
func WriteFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// Deployment returns podguard's Deployment.
func (r *Release) Deployment() (*appsv1.Deployment, error) {
	for _, o := range r.Objects {
		if o.GetKind() == "Deployment" {
			d := &appsv1.Deployment{}
			return d, o.Into(d)
		}
	}
	return nil, errors.New("no Deployment rendered")
}

// MountConfigMaps writes every ConfigMap volume of podguard's container under dir, as
// the kubelet mounts it, and returns in-container mount path -> local directory.
func (r *Release) MountConfigMaps(dir string) (map[string]string, error) {
	d, err := r.Deployment()
	if err != nil {
		return nil, err
	}
	return r.MountPodConfigMaps(d.Spec.Template.Spec, dir)
}

// MountPodConfigMaps is MountConfigMaps for any Pod of the release (the helm test's).
func (r *Release) MountPodConfigMaps(spec corev1.PodSpec, dir string) (map[string]string, error) {
	mounts := map[string]string{}
	for _, v := range spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		o, ok := r.Find("ConfigMap", v.ConfigMap.Name)
		if !ok {
			return nil, fmt.Errorf("volume %s: no ConfigMap %s rendered", v.Name, v.ConfigMap.Name)
		}
		var cm corev1.ConfigMap
		if err := o.Into(&cm); err != nil {
			return nil, err
		}
		local := filepath.Join(dir, v.Name)
		if err := os.MkdirAll(local, 0o755); err != nil {
			return nil, err
		}
		for file, content := range cm.Data {
			if err := os.WriteFile(filepath.Join(local, file), []byte(content), 0o644); err != nil {
				return nil, err
			}
		}
		for _, c := range spec.Containers {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name {
					mounts[m.MountPath] = local
				}
			}
		}
	}
	return mounts, nil
}

// LocalArgs rewrites --flag=value arguments whose value lies under a mount path to the
// local directory standing in for it.
func LocalArgs(args []string, mounts map[string]string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		flag, value, ok := strings.Cut(a, "=")
		if ok {
			for mount, local := range mounts {
				if value == mount || strings.HasPrefix(value, mount+"/") {
					a = flag + "=" + local + strings.TrimPrefix(value, mount)
				}
			}
		}
		out = append(out, a)
	}
	return out
}

// ReplicaArgs turns the args of podguard's container into those of a podguard the
// harness runs in its place: LocalArgs with mounts, less what the harness sets itself
// (the subcommand, the ports, the shutdown delay) and the flags in drop. The --cert-dir,
// which the harness takes as an option, is returned apart.
func ReplicaArgs(args []string, mounts map[string]string, drop ...string) (replica []string, certDir string) {
	for _, a := range LocalArgs(args, mounts) {
		name, value, _ := strings.Cut(a, "=")
		switch {
		case name == "--cert-dir":
			certDir = value
		case name == "serve", name == "--port", name == "--metrics-bind-address", name == "--health-probe-bind-address",
			name == "--shutdown-delay", slices.Contains(drop, name):
		default:
			replica = append(replica, a)
		}
	}
	return replica, certDir
}
