package serve

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podguard/podguard/test/harness"
)

const hostNetworkRule = `# METADATA
# title: No host network
# custom:
#   id: no-host-network
package pod.rules.no_host_network

violation contains {"msg": %q, "field": sprintf("%%s.hostNetwork", [input.spec_path]), "fix": "remove hostNetwork"} if {
	input.spec.hostNetwork == true
}
`

// hostNetworkPod is compliant but for hostNetwork.
const hostNetworkPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default","labels":{"app.kubernetes.io/name":"web"}},
 "spec":{"hostNetwork":true,"containers":[{"name":"app","image":"app:1.0",
  "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"100m","memory":"64Mi"}},
  "livenessProbe":{"tcpSocket":{"port":80}},"readinessProbe":{"tcpSocket":{"port":80}}}]}}`

type server struct {
	*harness.Podguard
	policyDir string
}

func start(t *testing.T, files map[string]string) *server {
	t.Helper()
	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policies")
	for name, text := range files {
		write(t, filepath.Join(policyDir, name), text)
	}
	if err := os.MkdirAll(policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yaml")
	write(t, config, "# defaults\n")
	pg := harness.StartForTest(t, harness.Options{Dir: dir, ConfigFile: config, Args: []string{"--policy-dir", policyDir, "--reload-interval", "100ms"}})
	return &server{Podguard: pg, policyDir: policyDir}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Write then rename, as a ConfigMap update swaps files: never a half-written file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// review posts a CREATE of the object to /validate and returns allowed and the message.
func (s *server) review(t *testing.T, object string) (bool, string) {
	t.Helper()
	body := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",
		"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},
		"namespace":"default","operation":"CREATE","userInfo":{},"object":%s}}`, object)
	resp, err := s.Client().Post(s.URL+"/validate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Response struct {
			Allowed bool
			Status  struct{ Message string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Response.Allowed, out.Response.Status.Message
}

func (s *server) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get(s.HealthURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *server) reloads(t *testing.T, result string) int {
	t.Helper()
	resp, err := http.Get(s.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^podguard_policy_reloads_total\{result="` + result + `"\} (\d+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// eventually polls cond until it holds and logs how long that took. Reloads are picked up
// within a few intervals on a quiet machine; the bound is the test binary's.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s: after %v", what, time.Since(start).Round(time.Millisecond))
}

func TestCustomRuleDroppedInDeniesWithoutRestart(t *testing.T) {
	s := start(t, nil)
	if ok, msg := s.review(t, hostNetworkPod); !ok {
		t.Fatalf("denied before the rule exists: %s", msg)
	}
	write(t, filepath.Join(s.policyDir, "no_host_network", "no_host_network.rego"), fmt.Sprintf(hostNetworkRule, "uses the host network"))
	eventually(t, "the new rule denies", func() bool {
		ok, msg := s.review(t, hostNetworkPod)
		return !ok && msg == "[no-host-network] uses the host network (spec.hostNetwork). Fix: remove hostNetwork"
	})
}

func TestBrokenChangesAreRefusedAndFixesPickedUp(t *testing.T) {
	rule := filepath.Join("no_host_network", "no_host_network.rego")
	s := start(t, map[string]string{rule: fmt.Sprintf(hostNetworkRule, "v1")})
	_, before := s.readyz(t)
	tests := []struct {
		desc  string
		files map[string]string
	}{
		{"syntax error", map[string]string{rule: "package pod.rules.no_host_network\n\nviolation contains v if {\n"}},
		{"a rule whose own test fails", map[string]string{
			rule: fmt.Sprintf(hostNetworkRule, "v2"),
			"no_host_network/no_host_network_test.rego": `package pod.rules.no_host_network_test

import data.pod.rules.no_host_network

test_message if {
	some v in no_host_network.violation with input as {"spec_path": "spec", "spec": {"hostNetwork": true}}
	v.msg == "something else"
}
`,
		}},
		{"a config naming an unknown rule", map[string]string{"../config.yaml": "rules: {nope: {enforcement: deny}}"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			errorsBefore := s.reloads(t, "error")
			for name, text := range tc.files {
				write(t, filepath.Join(s.policyDir, name), text)
			}
			eventually(t, "the error metric rises", func() bool { return s.reloads(t, "error") > errorsBefore })
			if code, body := s.readyz(t); code != http.StatusOK || body != before {
				t.Errorf("readyz %d %q after a refused change, want 200 %q", code, body, before)
			}
			if ok, msg := s.review(t, hostNetworkPod); ok || !strings.HasPrefix(msg, "[no-host-network] v1 ") {
				t.Errorf("after a refused change: allowed=%v %q, want the v1 rule still denying", ok, msg)
			}
		})
	}
	// Fixing the files is picked up without a restart.
	write(t, filepath.Join(s.policyDir, "..", "config.yaml"), "# defaults\n")
	if err := os.Remove(filepath.Join(s.policyDir, "no_host_network", "no_host_network_test.rego")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(s.policyDir, rule), fmt.Sprintf(hostNetworkRule, "v3"))
	eventually(t, "the fixed rule is served", func() bool {
		ok, msg := s.review(t, hostNetworkPod)
		return !ok && strings.HasPrefix(msg, "[no-host-network] v3 ")
	})
	if _, after := s.readyz(t); after == before {
		t.Errorf("readyz still reports %q after a successful reload", before)
	}
}

func TestBrokenAtStartupIsNotReadyUntilFixed(t *testing.T) {
	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policies")
	rule := filepath.Join(policyDir, "no_host_network", "no_host_network.rego")
	write(t, rule, "package pod.rules.no_host_network\n\nviolation contains v if {\n")
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	// harness.Start waits for readiness, which must not come: start it by hand.
	pg, err := harness.StartUnready(t.Context(), harness.Options{Binary: bin, Dir: dir, Args: []string{"--policy-dir", policyDir, "--reload-interval", "100ms"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	s := &server{Podguard: pg, policyDir: policyDir}
	eventually(t, "the health port answers", func() bool {
		resp, err := http.Get(pg.HealthURL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if code, body := s.readyz(t); code != http.StatusServiceUnavailable || !strings.Contains(body, "policies: no policy set is loaded") {
		t.Errorf("readyz %d %q with a broken policy set, want 503 naming the policies", code, body)
	}
	eventually(t, "the webhook port answers", func() bool {
		_, err := s.Client().Get(pg.URL + "/validate")
		return err == nil
	})
	if ok, msg := s.review(t, hostNetworkPod); ok || !strings.Contains(msg, "no policy set is loaded") {
		t.Errorf("review without a policy set: allowed=%v %q, want an error", ok, msg)
	}
	write(t, rule, fmt.Sprintf(hostNetworkRule, "fixed"))
	eventually(t, "ready after the fix", func() bool { code, _ := s.readyz(t); return code == http.StatusOK })
}
