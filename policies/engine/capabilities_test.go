package engine_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/podguard/podguard/policies/engine"
)

// reachRule is a custom rule whose violation message is the result of call, for Pods on
// the host network.
const reachRule = `package pod.rules.reach

violation contains {"msg": sprintf("%%v", [x]), "field": "spec", "container": "", "fix": "none"} if {
	input.spec.hostNetwork
	x := %s
}
`

// reachTest is a policy test that makes call.
const reachTest = `package pod.rules.reach_test

test_reach if {
	%s
}
`

// TestNetworkAndRuntimeBuiltinsRefused: a policy that would reach the network or read
// the process's environment is refused when the set is compiled, in a rule or in a
// policy test, so it never runs inside an admission request or at start-up.
func TestNetworkAndRuntimeBuiltinsRefused(t *testing.T) {
	calls := map[string]string{
		"http.send":          `http.send({"method": "GET", "url": "http://127.0.0.1:1/"})`,
		"net.lookup_ip_addr": `net.lookup_ip_addr("localhost")`,
		"opa.runtime":        `opa.runtime()`,
	}
	for builtin, call := range calls {
		t.Run(builtin+" in a rule", func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"reach/reach.rego": fmt.Sprintf(reachRule, call)})
			// Without the policy tests, whose own compilation would report it first.
			_, err := engine.Load(t.Context(), engine.Options{PolicyDir: dir})
			want := fmt.Sprintf("1 error occurred: %s:5: rego_type_error: undefined function %s", filepath.Join(dir, "reach", "reach.rego"), builtin)
			if err == nil || err.Error() != want {
				t.Errorf("Load = %v\nwant %s", err, want)
			}
		})
		t.Run(builtin+" in a policy test", func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"reach/reach_test.rego": fmt.Sprintf(reachTest, call)})
			_, err := engine.Load(t.Context(), engine.Options{PolicyDir: dir, RunTests: true})
			want := fmt.Sprintf("policy tests: 1 error occurred: %s:4: rego_type_error: undefined function %s", filepath.Join(dir, "reach", "reach_test.rego"), builtin)
			if err == nil || err.Error() != want {
				t.Errorf("Load = %v\nwant %s", err, want)
			}
		})
	}
	// The same rule with a builtin that stays allowed loads, so the refusals above come
	// from the capabilities and not from the rule's shape.
	t.Run("the same rule calling sprintf loads", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{
			"reach/reach.rego":      fmt.Sprintf(reachRule, `sprintf("%d", [1])`),
			"reach/reach_test.rego": fmt.Sprintf(reachTest, `sprintf("%d", [1]) == "1"`),
		})
		if _, err := engine.Load(t.Context(), engine.Options{PolicyDir: dir, RunTests: true}); err != nil {
			t.Errorf("Load: %v", err)
		}
	})
}

// TestNondeterministicBuiltinsReviewed: every builtin OPA marks nondeterministic (network,
// clock, randomness, environment) has been looked at. An OPA upgrade that adds one fails
// here until it is either refused in capabilities() or listed as harmless.
func TestNondeterministicBuiltinsReviewed(t *testing.T) {
	reviewed := map[string]string{
		"http.send":              "refused: network",
		"net.lookup_ip_addr":     "refused: network (DNS)",
		"opa.runtime":            "refused: process environment and configuration",
		"time.now_ns":            "allowed: the clock; enforceAfter needs it",
		"rand.intn":              "allowed: randomness only",
		"uuid.rfc4122":           "allowed: randomness only",
		"io.jwt.decode_verify":   "allowed: reads the clock, keys come from the policy",
		"io.jwt.encode_sign":     "allowed: randomness only",
		"io.jwt.encode_sign_raw": "allowed: randomness only",
		"json.match_schema":      "allowed, but a remote $ref is fetched: see TestSchemaRemoteReferencesNotFetched",
		"json.verify_schema":     "allowed, but a remote $ref is fetched: see TestSchemaRemoteReferencesNotFetched",
	}
	var unreviewed []string
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if b.Nondeterministic {
			if _, ok := reviewed[b.Name]; !ok {
				unreviewed = append(unreviewed, b.Name)
			}
		}
	}
	sort.Strings(unreviewed)
	if len(unreviewed) > 0 {
		t.Errorf("nondeterministic builtins not reviewed: %v", unreviewed)
	}
}

// TestSchemaRemoteReferencesNotFetched: json.match_schema resolves a remote $ref over
// HTTP unless the capabilities' allow_net list is empty, and capabilities() leaves it
// unset (nil means every host).
func TestSchemaRemoteReferencesNotFetched(t *testing.T) {
	var fetched atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		_, _ = w.Write([]byte(`{"type": "object"}`))
	}))
	defer srv.Close()
	dir := writeFiles(t, map[string]string{"reach/reach.rego": fmt.Sprintf(reachRule, fmt.Sprintf(`json.match_schema({}, {"$ref": %q})`, srv.URL+"/schema.json"))})
	e, err := engine.Load(t.Context(), engine.Options{PolicyDir: dir})
	if err != nil {
		// Refusing the set is as good as not fetching.
		return
	}
	o, err := engine.Decode([]byte(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
		"spec": {"hostNetwork": true, "containers": [{"name": "app", "image": "app:1.0"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = e.Judge(t.Context(), o, engine.Namespace{})
	if n := fetched.Load(); n != 0 {
		t.Errorf("evaluation fetched the remote schema %d time(s)", n)
	}
}
