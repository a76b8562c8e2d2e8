package install

import (
	"context"
	"testing"

	action3 "helm.sh/helm/v3/pkg/action"
	kube3 "helm.sh/helm/v3/pkg/kube"
	action4 "helm.sh/helm/v4/pkg/action"
	loader4 "helm.sh/helm/v4/pkg/chart/v2/loader"
	kube4 "helm.sh/helm/v4/pkg/kube"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/podguard/podguard/test/chart"
)

// helmSDK installs, upgrades and uninstalls the chart as `helm` does, with one SDK.
type helmSDK interface {
	install(ctx context.Context, vals map[string]any) error
	upgrade(ctx context.Context, vals map[string]any) error
	uninstall() error
}

func newHelm(t *testing.T, sdk chart.SDK, kubeconfig string) helmSDK {
	t.Helper()
	if sdk == chart.Helm4 {
		cfg := action4.NewConfiguration()
		flags := genericclioptions.NewConfigFlags(false)
		flags.KubeConfig, flags.Namespace = &kubeconfig, ptr(namespace)
		if err := cfg.Init(flags, namespace, "secret"); err != nil {
			t.Fatal(err)
		}
		return helm4{cfg}
	}
	cfg := &action3.Configuration{}
	if err := cfg.Init(kube3.GetConfig(kubeconfig, "", namespace), namespace, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	return helm3{cfg}
}

type helm3 struct{ cfg *action3.Configuration }

func (h helm3) install(ctx context.Context, vals map[string]any) error {
	c, err := chart.Load()
	if err != nil {
		return err
	}
	i := action3.NewInstall(h.cfg)
	i.ReleaseName, i.Namespace, i.CreateNamespace = release, namespace, true
	_, err = i.RunWithContext(ctx, c, vals)
	return err
}

func (h helm3) upgrade(ctx context.Context, vals map[string]any) error {
	c, err := chart.Load()
	if err != nil {
		return err
	}
	u := action3.NewUpgrade(h.cfg)
	u.Namespace = namespace
	_, err = u.RunWithContext(ctx, release, c, vals)
	return err
}

func (h helm3) uninstall() error {
	_, err := action3.NewUninstall(h.cfg).Run(release)
	return err
}

// helm4 uses Helm 4's defaults, server-side apply among them.
type helm4 struct{ cfg *action4.Configuration }

func (h helm4) install(ctx context.Context, vals map[string]any) error {
	c, err := loader4.Load(chart.Dir())
	if err != nil {
		return err
	}
	i := action4.NewInstall(h.cfg)
	i.ReleaseName, i.Namespace, i.CreateNamespace = release, namespace, true
	i.WaitStrategy = kube4.HookOnlyStrategy
	_, err = i.RunWithContext(ctx, c, vals)
	return err
}

func (h helm4) upgrade(ctx context.Context, vals map[string]any) error {
	c, err := loader4.Load(chart.Dir())
	if err != nil {
		return err
	}
	u := action4.NewUpgrade(h.cfg)
	u.Namespace = namespace
	u.WaitStrategy = kube4.HookOnlyStrategy
	_, err = u.RunWithContext(ctx, release, c, vals)
	return err
}

func (h helm4) uninstall() error {
	u := action4.NewUninstall(h.cfg)
	u.WaitStrategy = kube4.HookOnlyStrategy
	_, err := u.Run(release)
	return err
}
