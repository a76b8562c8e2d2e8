package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podguard/podguard/policies/engine"
)

// exceptionFixtures live outside policies/, where `opa test` would read them as data.
var exceptionFixtures = filepath.Join("..", "..", "test", "fixtures", "engine", "exceptions")

// TestReviewExceptions: an exception of the configuration covers the named object's
// violations of the named rules, and what that object makes, until it expires; the
// violations it covers are reported as excepted, with its reason, never dropped.
func TestReviewExceptions(t *testing.T) {
	config := filepath.Join(exceptionFixtures, "config.yaml")
	const reason = "exceptions[0]: web serves a static page; its readiness probe lands with ticket SHOP-12 (until 2027-03-01T00:00:00Z)"
	before := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	after := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		config   string
		now      time.Time
		object   string
		source   engine.Source
		excepted bool
	}{
		"no exceptions configured: the Deployment is refused": {now: before, object: "web.json"},
		"the named Deployment, before the exception expires":  {config: config, now: before, object: "web.json", excepted: true},
		"the named Deployment as a manifest (eval)":           {config: config, now: before, object: "web.json", source: engine.Manifest, excepted: true},
		"the named Deployment, when the exception expires":    {config: config, now: after, object: "web.json"},
		"another Deployment in the namespace":                 {config: config, now: before, object: "api.json"},
		"a Pod of the named Deployment's ReplicaSet":          {config: config, now: before, object: "web-pod.json", excepted: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := load(t, engine.Options{ConfigFile: tc.config, Now: func() time.Time { return tc.now }})
			raw, err := os.ReadFile(filepath.Join(exceptionFixtures, tc.object))
			if err != nil {
				t.Fatal(err)
			}
			v, err := e.Review(t.Context(), engine.Request{Source: tc.source, Operation: engine.Create, Namespace: "shop", Object: engine.BodyOf(raw)})
			if err != nil {
				t.Fatal(err)
			}
			var denied, excepted []string
			for _, x := range v.Decision.Deny {
				denied = append(denied, x.Rule)
			}
			for _, x := range v.Decision.Excepted {
				excepted = append(excepted, x.String())
				if x.Enforcement != engine.Excepted || x.Exception != reason {
					t.Errorf("excepted violation %+v: want enforcement %q and exception %q", x, engine.Excepted, reason)
				}
			}
			if tc.excepted {
				want := `[readiness-probe] container "app": `
				if len(denied) != 0 || len(excepted) != 1 || !strings.HasPrefix(excepted[0], want) || !strings.HasSuffix(excepted[0], " Excepted by "+reason) {
					t.Errorf("denied %q, excepted %q: want nothing denied and one readiness-probe violation excepted by %q", denied, excepted, reason)
				}
			} else if len(excepted) != 0 || strings.Join(denied, ",") != "readiness-probe" {
				t.Errorf("denied %q, excepted %q: want readiness-probe denied and nothing excepted", denied, excepted)
			}
			if tc.source == engine.Manifest {
				var got []string
				for _, f := range v.Findings {
					got = append(got, f.Enforcement+" "+f.Rule)
				}
				if strings.Join(got, ",") != "excepted readiness-probe" {
					t.Errorf("findings %q: want the excepted readiness-probe violation shown", got)
				}
			}
		})
	}
}
