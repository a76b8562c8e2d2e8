package prefilter_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/prefilter"
)

// configs are the configurations the prefilters are proven under ("" is the default).
var configs = []string{"", "testdata/rich.yaml", "testdata/switched-on.yaml"}

// namespaces are where a skipped object must be allowed: names that overrides match and
// labels that their selectors match, since a matchCondition sees neither.
var namespaces = []struct {
	name   string
	labels map[string]string
}{
	{"default", nil}, {"legacy-1", nil}, {"prod", nil},
	{"default", map[string]string{"stage": "sandbox"}},
	{"prod", map[string]string{"stage": "sandbox", "owner": "x"}},
}

// subject is one configuration served: its engine and its prefilters as the API server
// compiles them (the compiler and matcher of k8s.io/apiserver's generic webhook).
type subject struct {
	config             string
	engine             *engine.Engine
	mutate, validate   matchconditions.Matcher
	mutating, checking bool // whether each webhook has a prefilter
}

var (
	subjectsOnce sync.Once
	subjects     []subject
	subjectsErr  error
)

func loadSubjects(t testing.TB) []subject {
	subjectsOnce.Do(func() {
		compiler := cel.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
		now := func() time.Time { return time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) }
		fail := admissionregistrationv1.Fail
		for _, cfg := range configs {
			e, err := engine.Load(context.Background(), engine.Options{ConfigFile: cfg, Now: now})
			if err != nil {
				subjectsErr = err
				return
			}
			set := prefilter.Generate(e.Config(), e.Rules())
			s := subject{config: cfg, engine: e, mutating: len(set.Mutating) > 0, checking: len(set.Validating) > 0}
			s.mutate = webhook.NewMutatingWebhookAccessor("m", "podguard", &admissionregistrationv1.MutatingWebhook{
				Name: "mutate.podguard.io", FailurePolicy: &fail, MatchConditions: conditions(set.Mutating),
			}).GetCompiledMatcher(compiler)
			s.validate = webhook.NewValidatingWebhookAccessor("v", "podguard", &admissionregistrationv1.ValidatingWebhook{
				Name: "validate.podguard.io", FailurePolicy: &fail, MatchConditions: conditions(set.Validating),
			}).GetCompiledMatcher(compiler)
			subjects = append(subjects, s)
		}
	})
	if subjectsErr != nil {
		t.Fatal(subjectsErr)
	}
	return subjects
}

func conditions(cs []prefilter.Condition) []admissionregistrationv1.MatchCondition {
	out := make([]admissionregistrationv1.MatchCondition, len(cs))
	for i, c := range cs {
		out[i] = admissionregistrationv1.MatchCondition{Name: c.Name, Expression: c.Expression}
	}
	return out
}

// called evaluates a webhook's conditions on a CREATE of the object as the API server
// would; an evaluation error fails the test, since under Ignore it would skip the call.
func called(t testing.TB, m matchconditions.Matcher, raw []byte) bool {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	gvk := schema.FromAPIVersionAndKind(str(obj["apiVersion"]), str(obj["kind"]))
	attrs := admission.NewAttributesRecord(u, nil, gvk, "default", "p",
		schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(gvk.Kind) + "s"},
		"", admission.Create, nil, true, nil)
	r := m.Match(context.Background(), &admission.VersionedAttributes{
		Attributes: attrs, VersionedObject: admission.NewLazyObject(u), VersionedKind: gvk,
	}, nil, nil)
	if r.Error != nil {
		t.Fatalf("matchCondition error (under failurePolicy Ignore the call would be skipped): %v\nobject: %s", r.Error, raw)
	}
	return r.Matches
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// counts is how often each webhook was skipped, to show the proof is not vacuous.
type counts struct{ mutateSkipped, validateSkipped, objects int }

// check proves one object under every subject: a skipped /mutate must be a Pod
// podguard adds nothing to; a skipped /validate an object with no finding (deny, warn or
// audit) in any namespace.
func check(t testing.TB, raw []byte, n []counts) {
	t.Helper()
	ctx := context.Background()
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	gvk := schema.FromAPIVersionAndKind(str(obj["apiVersion"]), str(obj["kind"]))
	for i, s := range loadSubjects(t) {
		n[i].objects++
		if s.mutating && !called(t, s.mutate, raw) {
			n[i].mutateSkipped++
			v, err := s.engine.Review(ctx, engine.Request{
				Mutate: true, Operation: engine.Create, Version: "v1", Kind: "Pod", Resource: "pods",
				Namespace: "default", Object: engine.BodyOf(raw),
			})
			if err != nil || len(v.Additions) > 0 || v.Patch != nil {
				t.Fatalf("config %q: /mutate skipped, but podguard adds %+v (patch %s, error %v)\nobject: %s", s.config, v.Additions, v.Patch, err, raw)
			}
		}
		if s.checking && !called(t, s.validate, raw) {
			n[i].validateSkipped++
			for _, ns := range namespaces {
				v, err := s.engine.Review(ctx, engine.Request{
					Operation: engine.Create, Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind,
					Namespace: ns.name, Object: engine.BodyOf(raw),
					Cluster: engine.Namespaces{ns.name: {Labels: ns.labels}},
				})
				d := v.Decision
				if err != nil || len(d.Deny)+len(d.Warn)+len(d.Audit) > 0 {
					t.Fatalf("config %q, namespace %s %v: /validate skipped, but podguard finds %+v (error %v)\nobject: %s", s.config, ns.name, ns.labels, d.All(), err, raw)
				}
			}
		}
	}
}

// TestSkipsAreAllowedUnchanged proves the prefilters on a fixed corpus: generated Pods
// and workloads from fixed seeds, and the samples.
func TestSkipsAreAllowedUnchanged(t *testing.T) {
	n := make([]counts, len(configs))
	rng := rand.New(rand.NewPCG(24, 2026))
	for range 4000 {
		b := make([]byte, 64+rng.IntN(192))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		raw, err := json.Marshal((&gen{b: b}).object())
		if err != nil {
			t.Fatal(err)
		}
		check(t, raw, n)
	}
	for i, c := range n {
		t.Logf("config %q: /mutate skipped for %d, /validate for %d of %d objects", configs[i], c.mutateSkipped, c.validateSkipped, c.objects)
		if c.mutateSkipped < c.objects/50 || c.validateSkipped < c.objects/200 {
			t.Errorf("config %q: too few skips to prove anything: %+v", configs[i], c)
		}
	}
}

// TestSamples: the compliant sample skips both calls; the violating one and the one that
// needs defaults are called.
func TestSamples(t *testing.T) {
	s := loadSubjects(t)[0]
	for _, tc := range []struct {
		file             string
		mutate, validate bool
	}{
		{"../samples/pod-compliant.yaml", false, false},
		{"../samples/pod-violating.yaml", true, true},
		{"../samples/pod-needs-defaults.yaml", true, true},
		{"../samples/deployment-no-probes.yaml", true, true}, // /mutate proves Pods only
	} {
		t.Run(tc.file, func(t *testing.T) {
			y, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := yaml.YAMLToJSON(y)
			if err != nil {
				t.Fatal(err)
			}
			if got := called(t, s.mutate, raw); got != tc.mutate {
				t.Errorf("/mutate called: %v, want %v", got, tc.mutate)
			}
			if got := called(t, s.validate, raw); got != tc.validate {
				t.Errorf("/validate called: %v, want %v", got, tc.validate)
			}
		})
	}
}

// FuzzPrefilter proves the prefilters on generated objects (make fuzz).
func FuzzPrefilter(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []byte("podguard skips only what it allows"),
		{2, 2, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		{5, 5, 5, 9, 9, 9, 200, 13, 255, 0, 0, 7, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
	} {
		f.Add(seed)
	}
	// Loaded before any input: the fuzzer takes an input that runs 10 s for a hang.
	loadSubjects(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, err := json.Marshal((&gen{b: data}).object())
		if err != nil {
			t.Fatal(err)
		}
		check(t, raw, make([]counts, len(configs)))
	})
}
