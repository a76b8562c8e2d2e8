package chart

import (
	"context"
	"fmt"
	"sort"

	action4 "helm.sh/helm/v4/pkg/action"
	common4 "helm.sh/helm/v4/pkg/chart/common"
	loader4 "helm.sh/helm/v4/pkg/chart/v2/loader"
	release4 "helm.sh/helm/v4/pkg/release/v1"
)

// SDK names the Helm SDK that renders: Helm 3 (the default) or Helm 4. The chart must
// render the same with both.
type SDK string

const (
	Helm3 SDK = "helm3"
	Helm4 SDK = "helm4"
)

// SDKs are the Helm SDKs the chart is tested with.
var SDKs = []SDK{Helm3, Helm4}

// render4 is Render with the Helm 4 SDK: a client-side dry-run install, as
// `helm install --dry-run=client` (or `helm template`) does.
func render4(ctx context.Context, o Options, vals map[string]any) (*Release, error) {
	c, err := loader4.Load(Dir())
	if err != nil {
		return nil, err
	}
	if o.Umbrella != "" {
		umbrella, err := loader4.Load(o.Umbrella)
		if err != nil {
			return nil, err
		}
		umbrella.AddDependency(c)
		c = umbrella
	}
	kv, err := common4.ParseKubeVersion(o.KubeVersion)
	if err != nil {
		return nil, err
	}
	install := action4.NewInstall(action4.NewConfiguration())
	install.DryRunStrategy = action4.DryRunClient
	install.ReleaseName = o.ReleaseName
	install.Namespace = o.Namespace
	install.KubeVersion = kv
	install.APIVersions = o.APIVersions
	r, err := install.RunWithContext(ctx, c, vals)
	if err != nil {
		return nil, err
	}
	rel, ok := r.(*release4.Release)
	if !ok {
		return nil, fmt.Errorf("helm 4 returned a %T", r)
	}
	out := &Release{}
	if rel.Info != nil {
		out.Notes = rel.Info.Notes
	}
	if out.Objects, err = splitManifest(rel.Manifest); err != nil {
		return nil, err
	}
	for _, h := range rel.Hooks {
		objs, err := splitManifest(h.Manifest)
		if err != nil {
			return nil, err
		}
		for i := range objs {
			objs[i].Source = h.Path
		}
		out.Hooks = append(out.Hooks, objs...)
	}
	sort.SliceStable(out.Hooks, func(i, j int) bool { return out.Hooks[i].Source < out.Hooks[j].Source })
	return out, nil
}
