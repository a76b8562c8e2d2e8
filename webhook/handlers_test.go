package webhook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podguard/podguard/policies/engine"
)

func admissionRequest(t *testing.T, name string) Request {
	t.Helper()
	var req Request
	if err := decodeRequest(engine.BodyOf(readRequest(t, name)), &req); err != nil {
		t.Fatal(err)
	}
	return req
}

// handler is what Validator and Mutator are.
type handler interface {
	Handle(context.Context, Request) admission.Response
}

// TestNoPolicySet: before a policy set has loaded, both handlers answer 500 instead of
// allowing unchecked objects.
func TestNoPolicySet(t *testing.T) {
	req := admissionRequest(t, "mutate-pod-no-resources")
	for name, h := range map[string]handler{
		"validate": &Validator{Policies: &PolicySet{}, EvalTimeout: testDeadline},
		"mutate":   &Mutator{Policies: &PolicySet{}, EvalTimeout: testDeadline},
	} {
		t.Run(name, func(t *testing.T) {
			resp := h.Handle(t.Context(), req)
			if resp.Allowed || resp.Result == nil || resp.Result.Code != 500 || resp.Result.Message != "no policy set is loaded" {
				t.Errorf("got allowed=%v result=%+v, want 500 \"no policy set is loaded\"", resp.Allowed, resp.Result)
			}
		})
	}
}

// TestAcceptedConfigNeverBreaksEvaluation: a configuration is either refused when the
// policy set loads (start-up fails with the key and the reason), or every admission
// request evaluates with it. A configuration that loads and then makes each evaluation
// fail turns every Pod CREATE into a 500, i.e. an outage whatever the failurePolicy.
func TestAcceptedConfigNeverBreaksEvaluation(t *testing.T) {
	cases := map[string]struct {
		yaml string
		key  string // what a start-up error must name
	}{
		"enforceAfter after the year 2262 (beyond int64 nanoseconds)": {
			yaml: "rules:\n  liveness-probe: {enforceAfter: \"2999-01-01T00:00:00Z\"}\n",
			key:  "rules.liveness-probe.enforceAfter",
		},
		"exemptImages pattern with an unclosed brace": {
			yaml: "rules:\n  image-tag: {exemptImages: [\"registry.k8s.io/{pause\"]}\n",
			key:  "rules.image-tag.exemptImages[0]",
		},
		"namespace override name with an unclosed brace": {
			yaml: "namespaces:\n  overrides: [{names: [\"legacy-{a\"], enforcement: warn}]\n",
			key:  "namespaces.overrides[0].names[0]",
		},
		"maxLimitRequestRatio with trailing garbage": {
			yaml: "rules:\n  resources-limits: {maxLimitRequestRatio: {memory: \"2x\"}}\n",
			key:  "rules.resources-limits.maxLimitRequestRatio.memory",
		},
		"max with an exponent quantity": {
			yaml: "rules:\n  resources-limits: {max: {memory: \"1e12\", cpu: \"5e3\"}}\n",
			key:  "rules.resources-limits.max",
		},
		"max in exa and milli units": {
			yaml: "rules:\n  resources-limits: {max: {memory: \"1E\", cpu: \"64000m\"}}\n",
			key:  "rules.resources-limits.max",
		},
		"maxLimitRequestRatio NaN": {
			yaml: "rules:\n  resources-limits: {maxLimitRequestRatio: {cpu: NaN}}\n",
			key:  "rules.resources-limits.maxLimitRequestRatio.cpu",
		},
		"maxLimitRequestRatio as a hexadecimal float": {
			yaml: "rules:\n  resources-limits: {maxLimitRequestRatio: {cpu: \"0x1p4\"}}\n",
			key:  "rules.resources-limits.maxLimitRequestRatio.cpu",
		},
		"defaults as bare numbers": {
			yaml: "defaults:\n  resources: {requests: {cpu: 0.1}, limits: {cpu: 1}}\n",
			key:  "defaults.resources",
		},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			e, err := engine.Load(t.Context(), engine.Options{ConfigFile: file})
			if err != nil {
				if !strings.Contains(err.Error(), c.key) {
					t.Errorf("refused at load with %q, want the error to name %s", err, c.key)
				}
				return
			}
			var ps PolicySet
			ps.Set(e)
			for _, r := range []struct {
				h   handler
				req string
			}{
				{&Validator{Policies: &ps, EvalTimeout: testDeadline}, "pod-create-compliant"},
				{&Validator{Policies: &ps, EvalTimeout: testDeadline}, "pod-create-violating"},
				{&Mutator{Policies: &ps, EvalTimeout: testDeadline}, "mutate-pod-no-resources"},
			} {
				resp := r.h.Handle(t.Context(), admissionRequest(t, r.req))
				if resp.Result != nil && resp.Result.Code >= 500 {
					t.Errorf("config loaded, but %s answers %d: %s", r.req, resp.Result.Code, resp.Result.Message)
				}
			}
		})
	}
}

// fakeCluster stands in for the LimitRange and Namespace cache.
type fakeCluster struct {
	ranges     []corev1.LimitRange
	err        error
	namespaces []string // namespaces whose LimitRanges were asked for

	labels    map[string]map[string]string // namespace -> labels
	labelsErr error
}

func (f *fakeCluster) For(_ context.Context, namespace string) ([]corev1.LimitRange, error) {
	f.namespaces = append(f.namespaces, namespace)
	return f.ranges, f.err
}

func (f *fakeCluster) NamespaceLabels(_ context.Context, namespace string) (map[string]string, error) {
	return f.labels[namespace], f.labelsErr
}

// TestWorkloadsGetLimitRangeDefaults: a workload's template is judged with its namespace's
// LimitRange defaults applied (before podguard's own), as its Pods will be; a Pod arrives
// with them already applied and is judged as it is.
func TestWorkloadsGetLimitRangeDefaults(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte("rules:\n  resources-requests: {min: {memory: 100Mi}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Load(t.Context(), engine.Options{ConfigFile: file})
	if err != nil {
		t.Fatal(err)
	}
	var ps PolicySet
	ps.Set(e)
	lr := corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:    corev1.LimitTypeContainer,
		Default: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}}}
	below := `[resources-requests] container "app": memory request "64Mi" is below the minimum "100Mi" ` +
		`(spec.template.spec.containers[0].resources.requests.memory). Fix: raise resources.requests.memory to at least "100Mi"`

	t.Run("LimitRange default limit becomes the template's request", func(t *testing.T) {
		src := &fakeCluster{ranges: []corev1.LimitRange{lr}}
		v := &Validator{Policies: &ps, EvalTimeout: testDeadline, Cluster: src}
		resp := v.Handle(t.Context(), admissionRequest(t, "deployment-create-violating"))
		if resp.Allowed || resp.Result.Code != 403 || !strings.Contains(resp.Result.Message, below) {
			t.Errorf("got allowed=%v %d %q\nwant a denial containing %q", resp.Allowed, resp.Result.Code, resp.Result.Message, below)
		}
		if strings.Join(src.namespaces, ",") != "default" {
			t.Errorf("LimitRanges asked for namespaces %v, want [default]", src.namespaces)
		}
	})
	t.Run("without a LimitRange podguard's default request applies", func(t *testing.T) {
		v := &Validator{Policies: &ps, EvalTimeout: testDeadline, Cluster: &fakeCluster{}}
		resp := v.Handle(t.Context(), admissionRequest(t, "deployment-create-violating"))
		if strings.Contains(resp.Result.Message, "resources-") {
			t.Errorf("resource violation without a LimitRange: %q", resp.Result.Message)
		}
	})
	t.Run("LimitRanges unavailable: 500, never judged without them", func(t *testing.T) {
		v := &Validator{Policies: &ps, EvalTimeout: testDeadline, Cluster: &fakeCluster{err: errors.New("the LimitRange cache has not synced yet")}}
		resp := v.Handle(t.Context(), admissionRequest(t, "deployment-create-violating"))
		if resp.Allowed || resp.Result.Code != 500 || !strings.Contains(resp.Result.Message, "the LimitRange cache has not synced yet") {
			t.Errorf("got allowed=%v %+v, want 500 naming the cache", resp.Allowed, resp.Result)
		}
	})
	t.Run("Pods are judged as they arrive, without consulting LimitRanges", func(t *testing.T) {
		src := &fakeCluster{err: errors.New("must not be called")}
		v := &Validator{Policies: &ps, EvalTimeout: testDeadline, Cluster: src}
		resp := v.Handle(t.Context(), admissionRequest(t, "pod-create-compliant"))
		if !resp.Allowed || len(src.namespaces) != 0 {
			t.Errorf("got allowed=%v %+v, LimitRanges asked for %v", resp.Allowed, resp.Result, src.namespaces)
		}
	})
}

// TestNullNeverEnablesAnOffRule: null removes a key (how a user drops a default), but it
// must not turn startup-probe, off by default, into a deny rule for every Pod: either the
// configuration is refused at load naming the key, or the rule stays off.
func TestNullNeverEnablesAnOffRule(t *testing.T) {
	cases := map[string]struct {
		yaml string
		key  string
	}{
		"the rule's configuration removed":   {"rules:\n  startup-probe: null\n", "rules.startup-probe"},
		"the rule's enforcement removed":     {"rules:\n  startup-probe: {enforcement: null}\n", "rules.startup-probe.enforcement"},
		"every rule's configuration removed": {"rules: null\n", "rules"},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			e, err := engine.Load(t.Context(), engine.Options{ConfigFile: file})
			if err != nil {
				if !strings.Contains(err.Error(), c.key) {
					t.Errorf("refused at load with %q, want the error to name %s", err, c.key)
				}
				return
			}
			var ps PolicySet
			ps.Set(e)
			v := &Validator{Policies: &ps, EvalTimeout: testDeadline}
			// pod-create-compliant has no startupProbe.
			resp := v.Handle(t.Context(), admissionRequest(t, "pod-create-compliant"))
			if !resp.Allowed {
				t.Errorf("config loaded (Rules: %v), and a Pod without startupProbe is refused: %s", e.Config().Rules, resp.Result.Message)
			}
		})
	}
}

// TestNamespaceSelectorOverrides: an override may pick namespaces by their labels (which
// only an admin sets), read from the cluster.
func TestNamespaceSelectorOverrides(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	cfg := `namespaces:
  overrides:
    - namespaceSelector: {matchLabels: {podguard.io/tier: legacy}}
      enforcement: warn
    - namespaceSelector: {matchExpressions: [{key: podguard.io/sandbox, operator: Exists}]}
      enforcement: "off"
      rules: [image-tag]
`
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Load(t.Context(), engine.Options{ConfigFile: file})
	if err != nil {
		t.Fatal(err)
	}
	var ps PolicySet
	ps.Set(e)
	// pod-create-violating (namespace default): image-tag, liveness-probe, readiness-probe
	// and required-labels are denied by default.
	cases := map[string]struct {
		labels    map[string]string
		labelsErr error
		allowed   bool
		code      int32
		warnings  int
		denied    string // a rule id that must be in the denial
	}{
		"namespace without labels: denied":             {code: 403, denied: "[image-tag]"},
		"namespace labelled legacy: allowed, warnings": {labels: map[string]string{"podguard.io/tier": "legacy"}, allowed: true, code: 200, warnings: 4},
		"other value of the label: denied":             {labels: map[string]string{"podguard.io/tier": "core"}, code: 403, denied: "[image-tag]"},
		"sandbox label turns image-tag off only":       {labels: map[string]string{"podguard.io/sandbox": ""}, code: 403, denied: "[liveness-probe]"},
		"labels unavailable: 500":                      {labelsErr: errors.New("the LimitRange and Namespace cache has not synced yet"), code: 500},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			v := &Validator{Policies: &ps, EvalTimeout: testDeadline, Cluster: &fakeCluster{
				labels: map[string]map[string]string{"default": c.labels}, labelsErr: c.labelsErr,
			}}
			resp := v.Handle(t.Context(), admissionRequest(t, "pod-create-violating"))
			if resp.Allowed != c.allowed || resp.Result.Code != c.code || len(resp.Warnings) != c.warnings {
				t.Errorf("got allowed=%v code=%d warnings=%q message=%q\nwant allowed=%v code=%d %d warnings",
					resp.Allowed, resp.Result.Code, resp.Warnings, resp.Result.Message, c.allowed, c.code, c.warnings)
			}
			if c.denied != "" && !strings.Contains(resp.Result.Message, c.denied) {
				t.Errorf("denial %q lacks %s", resp.Result.Message, c.denied)
			}
			if desc == "sandbox label turns image-tag off only" && strings.Contains(resp.Result.Message, "[image-tag]") {
				t.Errorf("image-tag still denied in a sandbox namespace: %q", resp.Result.Message)
			}
		})
	}
}

// TestReviewsUseValuesRead: what a review copies or compares is the value it read, never
// the shortened form messages show for a value over 64 characters. A mutation copies a
// request written with 62 leading zeros into the limit it adds as it is written (the
// shortened form is no quantity, and the API server refuses it); an UPDATE that raises a
// limit already above the maximum to another whose message reads the same is refused,
// not let through as "already present"; and the same long value kept through a label
// edit is still only a warning.
func TestReviewsUseValuesRead(t *testing.T) {
	s := startServer(t, t.Context(), Options{ConfigFile: filepath.Join("testdata", "config", "values.yaml")})
	for desc, c := range map[string]struct{ hook, request string }{
		"mutate copies long memory and cpu requests into the limits it adds": {"mutate", "mutate-pod-long-requests"},
		"pods/resize UPDATE raising a long memory limit above max is denied": {"validate", "values-resize-long-memory-limit-worse"},
		"pods/resize UPDATE raising a long cpu limit above max is denied":    {"validate", "values-resize-long-cpu-limit-worse"},
		"Deployment UPDATE raising a long memory limit above max is denied":  {"validate", "values-deployment-long-memory-limit-worse"},
		"Deployment UPDATE raising a long cpu limit above max is denied":     {"validate", "values-deployment-long-cpu-limit-worse"},
		"label edit keeping a long memory limit above max warns":             {"validate", "values-pod-long-memory-limit-label-edit"},
	} {
		t.Run(desc, func(t *testing.T) {
			got := normalize(t, s.post(t, "/"+c.hook, readRequest(t, c.request)))
			compareGolden(t, c.hook+"."+c.request, got)
		})
	}
}
