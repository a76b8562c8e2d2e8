package offline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Helm is how charts are rendered: the values files and --set assignments of the charts
// named on the command line, in the order Helm takes them (files first, then each --set).
type Helm struct {
	Charts     []string // chart directories named with --helm-chart
	ValueFiles []string // applied to Charts, not to the charts found in a tree
	Set        []string
}

// releaseName is the name `helm template` gives a release when none is given.
const releaseName = "release-name"

// renderChart renders a chart directory as `helm template` does, offline: its
// dependencies must be vendored under charts/, and nothing is fetched. Each rendered
// document names the template it came from (Helm's "# Source:" path, under dir).
func (rd *reader) renderChart(dir string, values map[string]any) ([]Manifest, error) {
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	if err := checkDependencies(ch); err != nil {
		return nil, err
	}
	if err := chartutil.ProcessDependencies(ch, values); err != nil {
		return nil, err
	}
	// The values schema is not checked: a schema may $ref a URL, and eval fetches nothing.
	vals, err := commonutil.ToRenderValuesWithSchemaValidation(ch, values,
		common.ReleaseOptions{Name: releaseName, Namespace: "default", Revision: 1, IsInstall: true}, common.DefaultCapabilities, true)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		// Helm prints neither NOTES.txt nor partials, nor what renders to nothing.
		if strings.HasSuffix(name, "NOTES.txt") || strings.HasPrefix(filepath.Base(name), "_") || strings.TrimSpace(files[name]) == "" {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	via := "helm template " + dir
	var out []Manifest
	for _, name := range names {
		// name is "<chart name>/templates/x.yaml", or a subchart's
		// "<chart name>/charts/<sub>/templates/y.yaml": shown under the chart's directory.
		_, rel, _ := strings.Cut(name, "/")
		out = append(out, rd.rendered(filepath.Join(dir, rel), via, []byte(files[name]))...)
	}
	return out, nil
}

// rendered reads rendered output as kubectl would read it, naming the file it came from
// and how. Lines of rendered output are not lines of that file, so none is given.
func (rd *reader) rendered(name, via string, data []byte) []Manifest {
	plain := &reader{patches: map[string]string{}, charts: map[string]bool{}, output: true}
	ms := plain.read(name, data)
	for i := range ms {
		ms[i].Line, ms[i].doc, ms[i].Via = 0, nil, via
	}
	return ms
}

// checkDependencies refuses a chart whose Chart.yaml names a dependency that is not
// vendored under charts/, as helm install does; eval downloads nothing.
func checkDependencies(ch *chart.Chart) error {
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		if !have[d.Name] {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("dependency %s named in Chart.yaml is not vendored in charts/ (helm dependency build fetches it; podguard eval fetches nothing)", strings.Join(missing, ", "))
	}
	return nil
}

// helmValues merges values files and --set assignments as Helm does: files in order,
// each deep-merged over the ones before, then each --set.
func helmValues(h Helm) (map[string]any, error) {
	base := map[string]any{}
	for _, f := range h.ValueFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--helm-values %s: %w", f, pathCause(err))
		}
		cur := map[string]any{}
		if err := yaml.Unmarshal(b, &cur); err != nil {
			return nil, fmt.Errorf("--helm-values %s: %w", f, err)
		}
		base = mergeMaps(base, cur)
	}
	for _, s := range h.Set {
		if err := strvals.ParseInto(s, base); err != nil {
			return nil, fmt.Errorf("--helm-set %s: %w", s, err)
		}
	}
	return base, nil
}

// mergeMaps merges b over a, tables recursively (Helm's rule for values files).
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// buildKustomization builds dir as `kubectl apply -k` does (krusty, load restricted to
// the kustomization's root, no plugins). Remote bases are refused before the build, so
// nothing is fetched.
func (rd *reader) buildKustomization(dir string) ([]Manifest, error) {
	if err := localOnly(dir); err != nil {
		return nil, err
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	b, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	return rd.rendered(kustomizationFile(dir), "kustomize build "+dir, b), nil
}

// kustomizationFile is the kustomization file in dir (kustomization.yaml if none).
func kustomizationFile(dir string) string {
	for _, n := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return filepath.Join(dir, n)
		}
	}
	return filepath.Join(dir, "kustomization.yaml")
}

// kustomizationRefs are the resources, components and bases a kustomization names.
func kustomizationRefs(dir string) ([]string, error) {
	b, err := os.ReadFile(kustomizationFile(dir))
	if err != nil {
		return nil, pathCause(err)
	}
	var k struct {
		Resources  []string `json:"resources"`
		Components []string `json:"components"`
		Bases      []string `json:"bases"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		return nil, err
	}
	return append(append(k.Resources, k.Components...), k.Bases...), nil
}

// isComponent reports whether dir's kustomization is a kustomize Component.
func isComponent(dir string) bool {
	b, err := os.ReadFile(kustomizationFile(dir))
	if err != nil {
		return false
	}
	var k struct {
		Kind string `json:"kind"`
	}
	return yaml.Unmarshal(b, &k) == nil && k.Kind == "Component"
}

// localOnly refuses a kustomization, or a base it names, that names anything not on disk.
func localOnly(dir string) error {
	seen := map[string]bool{}
	var check func(dir string) error
	check = func(dir string) error {
		if seen[dir] {
			return nil
		}
		seen[dir] = true
		refs, err := kustomizationRefs(dir)
		if err != nil {
			return err
		}
		for _, r := range refs {
			p := filepath.Join(dir, r)
			st, err := os.Stat(p)
			if err != nil || strings.Contains(r, "://") {
				return fmt.Errorf("%s names %q, which is not on disk (a remote base?): podguard eval fetches nothing", kustomizationFile(dir), r)
			}
			if st.IsDir() {
				if err := check(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return check(dir)
}

// errNoChart is returned for a --helm-chart that is no chart directory.
var errNoChart = errors.New("no Chart.yaml in it")
