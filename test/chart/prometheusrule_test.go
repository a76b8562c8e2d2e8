package chart

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// alertRule is one rule of the PrometheusRule.
type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func alertRules(t *testing.T, r *Release, name string) []alertRule {
	t.Helper()
	o, ok := r.Find("PrometheusRule", name)
	if !ok {
		t.Fatalf("no PrometheusRule; rendered %v", r.Kinds())
	}
	var pr struct {
		Spec struct {
			Groups []struct {
				Name  string      `json:"name"`
				Rules []alertRule `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := o.Into(&pr); err != nil {
		t.Fatal(err)
	}
	var out []alertRule
	for _, g := range pr.Spec.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// readmeMetrics are the metric names README's "Metrics" table documents.
func readmeMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(podguard_[a-z_]+)` \\|").FindAllStringSubmatch(string(b), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatal("README has no metrics table")
	}
	return names
}

// TestPrometheusRule checks every alert the chart ships: its expression parses as PromQL
// (Prometheus's own parser), reads only metrics README documents, and selects only this
// release's podguard; its duration parses; it has a severity and a summary and
// description whose templates parse.
func TestPrometheusRule(t *testing.T) {
	metrics := readmeMetrics(t)
	r := render(t, Options{ReleaseName: "pg", Namespace: "guard", Values: map[string]any{"prometheusRule": map[string]any{"enabled": true}}})
	rules := alertRules(t, r, "pg-podguard")
	var names []string
	for _, rule := range rules {
		names = append(names, rule.Alert+"/"+rule.Labels["severity"])
		t.Run(rule.Alert+"/"+rule.Labels["severity"], func(t *testing.T) {
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(rule.Expr)
			if err != nil {
				t.Fatalf("expr does not parse as PromQL: %v\n%s", err, rule.Expr)
			}
			if expr.Type() != parser.ValueTypeVector {
				t.Errorf("expr is a %s, an alert needs a vector", expr.Type())
			}
			selectors := 0
			parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
				vs, ok := node.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				selectors++
				metric := strings.TrimSuffix(vs.Name, "_bucket")
				// Besides podguard's own: Prometheus's up of podguard's scrape job, and
				// kube-state-metrics' series of podguard's Deployment.
				want := map[string]string{"namespace": "guard", "job": "pg-podguard"}
				switch {
				case vs.Name == "up":
				case strings.HasPrefix(vs.Name, "kube_deployment_"):
					want = map[string]string{"namespace": "guard", "deployment": "pg-podguard"}
				case vs.Name != "" && !slices.Contains(metrics, metric):
					t.Errorf("reads %s, which README's Metrics table does not list", vs.Name)
				}
				for name, value := range want {
					if !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
						return m.Name == name && m.Type == labels.MatchEqual && m.Value == value
					}) && vs.Name != "" {
						t.Errorf("selector %s does not select %s=%q: it would mix in other podguards", vs, name, value)
					}
				}
				return nil
			})
			if selectors == 0 {
				t.Error("expr reads no metric")
			}
			if _, err := model.ParseDuration(rule.For); err != nil {
				t.Errorf("for %q: %v", rule.For, err)
			}
			if s := rule.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("severity %q", s)
			}
			for _, key := range []string{"summary", "description"} {
				text := rule.Annotations[key]
				if text == "" {
					t.Errorf("no %s", key)
				}
				// Prometheus expands annotations as Go templates with these in scope.
				tmpl := template.New(key).Funcs(template.FuncMap{"humanize": fmtStub, "humanizeDuration": fmtStub})
				if _, err := tmpl.Parse("{{$labels := .Labels}}{{$value := .Value}}" + text); err != nil {
					t.Errorf("%s does not parse as a template: %v", key, err)
				}
			}
		})
	}
	want := []string{
		"PodguardDown/critical", "PodguardReplicasUnavailable/warning", "PodguardPolicyReloadFailing/warning", "PodguardCertificateExpiring/warning", "PodguardCertificateExpiring/critical",
		"PodguardEvaluationErrors/critical", "PodguardRefusalsSpike/warning", "PodguardSlowEvaluations/warning",
		"PodguardOverloaded/warning",
	}
	if !slices.Equal(names, want) {
		t.Errorf("alerts %v, want %v", names, want)
	}
}

func fmtStub(v any) string { return "" }

// TestPrometheusRuleThresholds checks that each threshold value reaches its alert.
func TestPrometheusRuleThresholds(t *testing.T) {
	r := render(t, Options{Values: map[string]any{"prometheusRule": map[string]any{
		"enabled": true, "certificateExpiryWarningDays": 15, "certificateExpiryCriticalDays": 3,
		"refusalSpikeFactor": 5, "refusalSpikeMinPerSecond": 0.5, "evaluationLatencySeconds": 0.75,
		"slotWaitSeconds": 0.1, "alertLabels": map[string]any{"team": "platform"},
	}}})
	want := map[string][]string{
		"PodguardCertificateExpiring/warning":  {"< 15 * 86400"},
		"PodguardCertificateExpiring/critical": {"< 3 * 86400"},
		"PodguardRefusalsSpike/warning":        {"> 0.5\n", "> 5 * (sum("},
		"PodguardSlowEvaluations/warning":      {"> 0.75"},
		"PodguardOverloaded/warning":           {"> 0.1"},
	}
	for _, rule := range alertRules(t, r, "podguard") {
		key := rule.Alert + "/" + rule.Labels["severity"]
		for _, s := range want[key] {
			if !strings.Contains(rule.Expr, s) {
				t.Errorf("%s: expr lacks %q:\n%s", key, s, rule.Expr)
			}
		}
		if rule.Labels["team"] != "platform" {
			t.Errorf("%s: labels %v lack alertLabels", key, rule.Labels)
		}
	}
	r = render(t, Options{Values: map[string]any{"prometheusRule": map[string]any{"enabled": true, "kubeStateMetrics": false}}})
	for _, rule := range alertRules(t, r, "podguard") {
		if rule.Alert == "PodguardReplicasUnavailable" {
			t.Error("PodguardReplicasUnavailable rendered with kubeStateMetrics false")
		}
	}
	if _, ok := render(t, Options{}).Find("PrometheusRule", "podguard"); ok {
		t.Error("PrometheusRule rendered by default; it needs the Prometheus Operator's CRDs")
	}
}
