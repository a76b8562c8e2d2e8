package engine_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podguard/podguard/policies/engine"
)

// richConfig sets most of what the configuration can say, so that the evaluators are
// compared on the rules' every branch: bounds and ratios, enforceAfter before and after
// now, overrides by name and by label, podLevel ignored, exempt images, label patterns.
const richConfig = `rules:
  resources-requests:
    min: {cpu: 50m}
    max: {memory: 1Gi}
    podLevel: ignored
  resources-limits:
    max: {memory: 2Gi, cpu: "2"}
    min: {memory: 64Mi}
    maxLimitRequestRatio: {cpu: 5, memory: 2}
  liveness-probe:
    enforcement: warn
    enforceAfter: "2020-01-01T00:00:00Z"
    handlers: [httpGet, tcpSocket]
  readiness-probe:
    enforcement: audit
    enforceAfter: "2100-01-01T00:00:00Z"
  startup-probe:
    enforcement: warn
    containerTypes: [containers]
  required-labels:
    labels:
      - key: app.kubernetes.io/name
      - key: team
        allowedRegex: "^[a-z]+$"
  image-tag:
    disallowedTags: [latest, dev]
    exemptImages: ["registry.k8s.io/*"]
defaults:
  resources:
    requests: {cpu: 100m, memory: 128Mi}
    limits: {cpu: 500m, memory: 256Mi}
namespaces:
  overrides:
    - names: [legacy-*]
      enforcement: warn
      rules: [image-tag, liveness-probe]
    - namespaceSelector:
        matchExpressions:
          - {key: stage, operator: In, values: [sandbox]}
          - {key: owner, operator: DoesNotExist}
      enforcement: audit
`

var (
	evaluatorsOnce sync.Once
	evaluators     [2][2]*engine.Engine // [config][planned, OPA's evaluator]
	evaluatorsErr  error
)

func loadEvaluators(t *testing.T) [2][2]*engine.Engine {
	evaluatorsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "podguard-evaluators-")
		if err != nil {
			evaluatorsErr = err
			return
		}
		file := filepath.Join(dir, "config.yaml")
		if evaluatorsErr = os.WriteFile(file, []byte(richConfig), 0o644); evaluatorsErr != nil {
			return
		}
		now := func() time.Time { return time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC) }
		for i, cfg := range []string{"", file} {
			for j, opa := range []bool{false, true} {
				e, err := engine.Load(t.Context(), engine.Options{ConfigFile: cfg, Now: now, OPAEvaluator: opa})
				if err != nil {
					evaluatorsErr = err
					return
				}
				if name, _ := e.Evaluator(); (name == "rego") != opa {
					evaluatorsErr = errAssert("engine " + name + " with OPAEvaluator " + map[bool]string{true: "on", false: "off"}[opa])
					return
				}
				evaluators[i][j] = e
			}
		}
	})
	if evaluatorsErr != nil {
		t.Fatal(evaluatorsErr)
	}
	return evaluators
}

type errAssert string

func (e errAssert) Error() string { return string(e) }

// fuzzNamespaces are the namespaces objects are judged in: labels that the overrides
// select or not, and LimitRanges whose defaults a workload's Pods get.
var fuzzNamespaces = []engine.Namespace{
	{},
	{Labels: map[string]string{"stage": "sandbox"}},
	{Labels: map[string]string{"stage": "sandbox", "owner": "x"}},
	{LimitRanges: []corev1.LimitRange{{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:           corev1.LimitTypeContainer,
		Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")},
		DefaultRequest: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")},
		Max:            corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("3Gi")},
	}}}}}},
}

// FuzzEvaluators judges, defaults and mutates generated Pods and workloads with the
// planned evaluation and with OPA's evaluator, under the default and a rich
// configuration and in namespaces that overrides and LimitRanges apply to, and requires
// the same answers from both, errors included.
func FuzzEvaluators(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []byte("podguard compares its evaluators"),
		{2, 2, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		{5, 5, 5, 9, 9, 9, 200, 13, 255, 0, 0, 7, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
		{3, 4, 4, 4, 2, 2, 9, 9, 9, 9, 1, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 1, 2, 3},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		engines := loadEvaluators(t)
		g := &podGen{b: data}
		raw, err := json.Marshal(g.pod())
		if err != nil {
			t.Fatal(err)
		}
		ns := fuzzNamespaces[g.next()%len(fuzzNamespaces)]
		for i, pair := range engines {
			planned, reference := pair[0], pair[1]
			o1, err := engine.Decode(raw)
			if err != nil {
				t.Fatalf("decoding a generated object: %v", err)
			}
			o2, _ := engine.Decode(raw)
			for _, stage := range []engine.Stage{engine.AsWritten, engine.WithClusterDefaults, engine.AsAdmitted} {
				d1, err1 := planned.Evaluate(t.Context(), o1, ns, stage)
				d2, err2 := reference.Evaluate(t.Context(), o2, ns, stage)
				same(t, i, "Evaluate", raw, d1, err1, d2, err2)
				a1, err1 := planned.Defaults(t.Context(), o1, ns, stage)
				a2, err2 := reference.Defaults(t.Context(), o2, ns, stage)
				same(t, i, "Defaults", raw, a1, err1, a2, err2)
			}
			m1, adds1, err1 := planned.Mutate(t.Context(), o1)
			m2, adds2, err2 := reference.Mutate(t.Context(), o2)
			same(t, i, "Mutate", raw, []any{string(m1), adds1}, err1, []any{string(m2), adds2}, err2)
		}
	})
}

func same(t *testing.T, config int, what string, raw []byte, got any, gotErr error, want any, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
		t.Fatalf("config %d, %s: planned %+v (error %v)\nOPA's evaluator %+v (error %v)\nobject: %s", config, what, got, gotErr, want, wantErr, raw)
	}
}
