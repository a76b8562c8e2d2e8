package chart

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

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
	c, err := loadChart(loader4.Load, o.Umbrella)
	if err != nil {
		return nil, err
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
	var notes string
	if rel.Info != nil {
		notes = rel.Info.Notes
	}
	return toRelease(notes, rel.Manifest, rel.Hooks, func(h *release4.Hook) (string, string) { return h.Path, h.Manifest })
}

// LintResult is what `helm lint` reports: its messages (severity 0 info, 1 warning,
// 2 error), errors, and what it logged, where a template's fail goes in lint mode.
type LintResult struct {
	Messages []LintMessage
	Errors   []error
	Linted   int
	Logged   string
}

// LintMessage is one message of `helm lint`.
type LintMessage struct {
	Severity int
	Text     string
}

// lint4 is Lint with the Helm 4 SDK, which logs a template's fail through slog.
func lint4(namespace string, vals map[string]any, strict bool) (*LintResult, error) {
	kv, err := common4.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	l := action4.NewLint()
	l.Namespace, l.KubeVersion, l.Strict = namespace, kv, strict
	var logged bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	res := l.Run([]string{Dir()}, vals)
	slog.SetDefault(prev)
	out := &LintResult{Errors: res.Errors, Linted: res.TotalChartsLinted, Logged: logged.String()}
	for _, m := range res.Messages {
		out.Messages = append(out.Messages, LintMessage{Severity: m.Severity, Text: m.Error()})
	}
	return out, nil
}
