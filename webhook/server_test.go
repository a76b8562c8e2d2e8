package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/api/resource"
)

// reviewCase is one AdmissionReview sent to a running server. The exact answer is in
// testdata/responses/<hook>.<request>.json; the fields below restate its gist, so a
// golden file regenerated with -update cannot silently change the verdict.
type reviewCase struct {
	server  string // "default" (embedded configuration) or "custom" (testdata/config, testdata/policies)
	hook    string // validate or mutate
	request string // testdata/requests/<request>.json

	allowed bool
	code    int
	// denyRules are the rule ids of the lines of status.message, in order (deny only).
	denyRules []string
	// warnRules are the rule ids of the warnings, in order.
	warnRules []string
	// preexisting says every warning is marked as already present before the update.
	preexisting bool
	// message is a substring status.message must contain (allowed and error answers).
	message string
	patched bool
	// quantityWarning is a substring of the one warning of a mutation that could not read a
	// quantity (the warnings of the mutating webhook are not violations).
	quantityWarning string
	// noGolden skips the golden comparison (used where the current answer is a known bug,
	// so -update must not enshrine it).
	noGolden bool
}

// violationLine is the documented denial format:
// [rule-id] container "app": <what> (<field path>). Fix: <how>
// (pod-level violations such as labels have no container part).
var violationLine = regexp.MustCompile(`^\[([a-z0-9-]+)\] (container "[^"]+": )?.+ \([^ ()]+\)\. Fix: .+$`)

func TestReviews(t *testing.T) {
	servers := map[string]*testServer{
		"default": startServer(t, t.Context(), Options{ShutdownDelay: 0}),
		"custom": startServer(t, t.Context(), Options{
			ConfigFile: filepath.Join("testdata", "config", "custom.yaml"),
			PolicyDir:  filepath.Join("testdata", "policies"),
		}),
	}

	cases := map[string]reviewCase{
		// --- validate, default configuration ---
		"compliant Pod CREATE is allowed without warnings": {
			server: "default", hook: "validate", request: "pod-create-compliant",
			allowed: true, code: 200,
		},
		"Pod without probes or labels and with :latest is denied with every violation": {
			server: "default", hook: "validate", request: "pod-create-violating",
			code:      403,
			denyRules: []string{"image-tag", "liveness-probe", "readiness-probe", "required-labels"},
		},
		"Deployment is judged as the Pod it creates: template paths, podguard's defaults applied": {
			// The template lacks resources, which the mutating webhook will add to its Pods.
			server: "default", hook: "validate", request: "deployment-create-violating",
			code:      403,
			denyRules: []string{"image-tag", "required-labels"},
		},
		"Pod created by a controller: each denial names the owner whose template to fix": {
			server: "default", hook: "validate", request: "pod-create-owned-violating",
			code:      403,
			denyRules: []string{"liveness-probe", "readiness-probe"},
		},
		"UPDATE editing a label of a non-compliant Pod is allowed, its violations warned as pre-existing": {
			server: "default", hook: "validate", request: "pod-update-label-edit-preexisting",
			allowed: true, code: 200,
			warnRules:   []string{"liveness-probe", "readiness-probe", "required-labels"},
			preexisting: true,
		},
		"UPDATE changing the image to :latest is denied for image-tag only": {
			server: "default", hook: "validate", request: "pod-update-image-latest",
			code:        403,
			denyRules:   []string{"image-tag"},
			warnRules:   []string{"liveness-probe", "readiness-probe", "required-labels"},
			preexisting: true,
		},
		"DELETE is allowed without evaluation": {
			server: "default", hook: "validate", request: "pod-delete",
			allowed: true, code: 200, message: "podguard does not check DELETE",
		},
		"CONNECT (pods/exec) is allowed without evaluation": {
			server: "default", hook: "validate", request: "pod-connect-exec",
			allowed: true, code: 200, message: "podguard does not check CONNECT",
		},
		"status subresource UPDATE of a non-compliant Pod is allowed": {
			server: "default", hook: "validate", request: "pod-update-status",
			allowed: true, code: 200, message: "podguard does not check the status subresource",
		},
		"pods/ephemeralcontainers UPDATE adding a :latest debug container is denied": {
			server: "default", hook: "validate", request: "pod-update-ephemeral-latest",
			code:      403,
			denyRules: []string{"image-tag"},
		},
		"pods/resize UPDATE raising a memory limit past max is denied": {
			server: "custom", hook: "validate", request: "custom-resize-past-max",
			code:      403,
			denyRules: []string{"resources-limits"},
			message:   `memory limit "16Gi" is above the maximum "8Gi"`,
		},
		"Pod in kube-system is allowed with the exemption in status.message": {
			server: "default", hook: "validate", request: "pod-create-kube-system",
			allowed: true, code: 200, message: "namespace kube-system is exempt from podguard (namespaces.exempt: kube-system)",
		},
		"malformed AdmissionReview JSON is answered with 400": {
			server: "default", hook: "validate", request: "malformed",
			code: 400, message: "unexpected end of input",
		},
		"request whose object is not a JSON object is answered with 400": {
			server: "default", hook: "validate", request: "pod-create-object-not-an-object",
			code: 400, message: "decoding object",
		},
		"object of a kind podguard does not check is allowed with the reason": {
			server: "default", hook: "validate", request: "configmap-create",
			allowed: true, code: 200, message: "ConfigMap",
			// The webhook configuration may route other kinds here (or a wildcard rule);
			// an object podguard has no rules for is not a bad request. No golden: the
			// reason's wording is not fixed yet, and today's answer is a 400 (a bug).
			noGolden: true,
		},

		// --- mutate, default configuration ---
		"mutate Pod without resources adds requests, limits and the defaults annotation": {
			server: "default", hook: "mutate", request: "mutate-pod-no-resources",
			allowed: true, code: 200, patched: true,
		},
		"mutate keeps user values: limit raised to a 512Mi request, request capped by a 64Mi limit": {
			server: "default", hook: "mutate", request: "mutate-pod-user-values",
			allowed: true, code: 200, patched: true,
		},
		"mutate a Pod that has every default adds nothing": {
			server: "default", hook: "mutate", request: "mutate-pod-complete",
			allowed: true, code: 200, message: "nothing to add",
		},
		"mutate UPDATE adds nothing": {
			server: "default", hook: "mutate", request: "mutate-pod-update",
			allowed: true, code: 200, message: "podguard adds defaults only to new Pods",
		},
		"mutate Deployment adds nothing (its Pods get the defaults)": {
			server: "default", hook: "mutate", request: "mutate-deployment",
			allowed: true, code: 200, message: "podguard adds defaults only to new Pods",
		},
		"mutate Pod whose memory request is 1e999999: no memory limit added next to it, and a warning says why": {
			// The API server stores 1e999999 as written. Reading it must not take seconds
			// (it did with units.parse and big.Rat), and a default capped by it cannot be
			// worked out: the cpu defaults and the memory request's are added, not the limit.
			server: "default", hook: "mutate", request: "mutate-pod-huge-memory-request",
			allowed: true, code: 200, patched: true,
			quantityWarning: `container "app": resources.requests.memory "1e999999" is larger than any quantity Kubernetes can use`,
		},
		"Pod whose memory request is 1e999999 is denied naming the value": {
			server: "default", hook: "validate", request: "pod-create-huge-memory-request",
			code:      403,
			denyRules: []string{"resources-limits", "resources-limits", "resources-requests", "resources-requests"},
			message:   `memory request "1e999999" is larger than any quantity Kubernetes can use (9223372036854775807)`,
		},
		"Deployment whose template requests 1e999999 of memory is denied naming the value": {
			server: "default", hook: "validate", request: "deployment-create-huge-memory-request",
			code: 403,
			// podguard adds no memory limit next to a request it cannot read (its cap would
			// be unknown), so the template is refused for that limit too.
			denyRules: []string{"resources-limits", "resources-requests"},
			message:   `memory request "1e999999" is larger than any quantity Kubernetes can use`,
		},
		"mutate Pod in kube-system adds nothing": {
			server: "default", hook: "mutate", request: "mutate-pod-kube-system",
			allowed: true, code: 200, message: "namespace kube-system is exempt from podguard",
		},

		// --- validate, custom configuration ---
		"rule at enforcement warn: allowed with an admission warning": {
			server: "custom", hook: "validate", request: "custom-liveness-warn",
			allowed: true, code: 200,
			warnRules: []string{"liveness-probe"},
		},
		"rule at enforcement audit: allowed without warnings": {
			server: "custom", hook: "validate", request: "custom-readiness-audit",
			allowed: true, code: 200,
		},
		"deny rule before its enforceAfter: allowed with a warning naming the date": {
			server: "custom", hook: "validate", request: "custom-labels-enforce-after",
			allowed: true, code: 200,
			warnRules: []string{"required-labels"},
		},
		"namespace override to warn: :latest allowed with a warning": {
			server: "custom", hook: "validate", request: "custom-override-legacy-namespace",
			allowed: true, code: 200,
			warnRules: []string{"image-tag"},
		},
		"memory limit 1e1000002 under max 8Gi is denied": {
			server: "custom", hook: "validate", request: "custom-huge-memory-limit",
			code:      403,
			denyRules: []string{"resources-limits"},
			message:   `memory limit "1e1000002" is larger than any quantity Kubernetes can use`,
		},
		"custom rule from the policy dir denies with its configured parameter": {
			server: "custom", hook: "validate", request: "custom-rule-violation",
			code:      403,
			denyRules: []string{"explode"},
		},
		"evaluation error is answered with 500": {
			server: "custom", hook: "validate", request: "custom-rule-eval-error",
			code: 500, message: "evaluating policies",
		},
	}

	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			s := servers[c.server]
			body := readRequest(t, c.request)
			got := normalize(t, s.post(t, "/"+c.hook, body))
			resp := response(got)

			// uid echoed
			var req struct {
				Request struct {
					UID string `json:"uid"`
				} `json:"request"`
			}
			if err := json.Unmarshal(body, &req); err == nil && req.Request.UID != "" {
				if resp["uid"] != req.Request.UID {
					t.Errorf("uid = %v, want %s", resp["uid"], req.Request.UID)
				}
			}
			checkGist(t, c, resp)
			if !c.noGolden {
				compareGolden(t, c.hook+"."+c.request, got)
			}
		})
	}
}

func checkGist(t *testing.T, c reviewCase, resp map[string]any) {
	t.Helper()
	if got, _ := resp["allowed"].(bool); got != c.allowed {
		t.Errorf("allowed = %v, want %v", got, c.allowed)
	}
	status, _ := resp["status"].(map[string]any)
	if code, _ := status["code"].(float64); int(code) != c.code {
		t.Errorf("status.code = %v, want %d", status["code"], c.code)
	}
	msg, _ := status["message"].(string)
	if c.code == 403 {
		if status["reason"] != "Forbidden" {
			t.Errorf("status.reason = %v, want Forbidden", status["reason"])
		}
		var rules []string
		for _, line := range strings.Split(msg, "\n") {
			m := violationLine.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("denial line not in the documented format: %q", line)
				continue
			}
			rules = append(rules, m[1])
		}
		if strings.Join(rules, ",") != strings.Join(c.denyRules, ",") {
			t.Errorf("denied rules = %v, want %v", rules, c.denyRules)
		}
	}
	if c.message != "" && !strings.Contains(msg, c.message) {
		t.Errorf("status.message = %q, want it to contain %q", msg, c.message)
	}
	if c.allowed && c.message == "" && msg != "" {
		t.Errorf("status.message = %q, want none", msg)
	}
	var warnRules []string
	warnings, _ := resp["warnings"].([]any)
	if c.quantityWarning != "" {
		if len(warnings) != 1 || !strings.Contains(fmt.Sprint(warnings[0]), c.quantityWarning) {
			t.Errorf("warnings = %q, want one containing %q", warnings, c.quantityWarning)
		}
		warnings = nil
	}
	for _, w := range warnings {
		s, _ := w.(string)
		m := violationLine.FindStringSubmatch(strings.TrimSuffix(s, " (already present before this update, not blocking)"))
		if m == nil {
			// Warnings of rules in their enforceAfter period end with the date.
			m = regexp.MustCompile(`^\[([a-z0-9-]+)\] .+\. Fix: .+ Enforced from \S+\.$`).FindStringSubmatch(s)
		}
		if m == nil {
			t.Errorf("warning not in the documented format: %q", s)
			continue
		}
		warnRules = append(warnRules, m[1])
		if c.preexisting && !strings.HasSuffix(s, " (already present before this update, not blocking)") {
			t.Errorf("warning not marked as pre-existing: %q", s)
		}
	}
	if strings.Join(warnRules, ",") != strings.Join(c.warnRules, ",") {
		t.Errorf("warned rules = %v, want %v", warnRules, c.warnRules)
	}
	_, hasPatch := resp["patch"]
	if hasPatch != c.patched {
		t.Errorf("patch present = %v, want %v", hasPatch, c.patched)
	}
	if c.patched && resp["patchType"] != "JSONPatch" {
		t.Errorf("patchType = %v, want JSONPatch", resp["patchType"])
	}
	if !c.patched && resp["patchType"] != nil {
		t.Errorf("patchType = %v, want none", resp["patchType"])
	}
}

// applyPatch applies the review answer's patch to the request's object.
func applyPatch(t *testing.T, review []byte, answer []byte) (object []byte) {
	t.Helper()
	var req struct {
		Request struct {
			Object json.RawMessage `json:"object"`
		} `json:"request"`
	}
	if err := json.Unmarshal(review, &req); err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Response struct {
			Patch     []byte  `json:"patch"`
			PatchType *string `json:"patchType"`
		} `json:"response"`
	}
	if err := json.Unmarshal(answer, &ans); err != nil {
		t.Fatal(err)
	}
	if len(ans.Response.Patch) == 0 {
		t.Fatalf("answer has no patch: %s", answer)
	}
	p, err := jsonpatch.DecodePatch(ans.Response.Patch)
	if err != nil {
		t.Fatalf("decoding patch: %v", err)
	}
	out, err := p.Apply(req.Request.Object)
	if err != nil {
		t.Fatalf("applying patch %s: %v", ans.Response.Patch, err)
	}
	return out
}

// withObject returns the review with request.object replaced.
func withObject(t *testing.T, review []byte, object []byte) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(review, &m); err != nil {
		t.Fatal(err)
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(m["request"], &req); err != nil {
		t.Fatal(err)
	}
	req["object"] = object
	m["request"], _ = json.Marshal(req)
	out, _ := json.Marshal(m)
	return out
}

type resources struct {
	Requests map[string]string `json:"requests"`
	Limits   map[string]string `json:"limits"`
}

type podView struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Containers []struct {
			Name      string    `json:"name"`
			Resources resources `json:"resources"`
		} `json:"containers"`
	} `json:"spec"`
}

// TestMutate applies the patch /mutate answers and checks the result: every container has
// cpu and memory requests and limits, no limit is below its request, user values are
// untouched, the annotation lists what was added, and a second pass adds nothing.
func TestMutate(t *testing.T) {
	s := startServer(t, t.Context(), Options{})

	cases := map[string]struct {
		request string
		// want is each container's resources after mutation.
		want       map[string]resources
		annotation string
	}{
		"Pod without resources gets every default": {
			request: "mutate-pod-no-resources",
			want: map[string]resources{
				"app": {Requests: map[string]string{"cpu": "100m", "memory": "128Mi"}, Limits: map[string]string{"cpu": "500m", "memory": "256Mi"}},
			},
			annotation: "app:requests.cpu=100m,app:requests.memory=128Mi,app:limits.cpu=500m,app:limits.memory=256Mi",
		},
		"user request 512Mi gets a 512Mi limit; user limit 64Mi gets a 64Mi request": {
			request: "mutate-pod-user-values",
			want: map[string]resources{
				"app":     {Requests: map[string]string{"cpu": "100m", "memory": "512Mi"}, Limits: map[string]string{"cpu": "500m", "memory": "512Mi"}},
				"sidecar": {Requests: map[string]string{"cpu": "100m", "memory": "64Mi"}, Limits: map[string]string{"cpu": "500m", "memory": "64Mi"}},
			},
			annotation: "app:requests.cpu=100m,app:limits.cpu=500m,app:limits.memory=512Mi," +
				"sidecar:requests.cpu=100m,sidecar:requests.memory=64Mi,sidecar:limits.cpu=500m",
		},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			review := readRequest(t, c.request)
			first := s.post(t, "/mutate", review)
			patched := applyPatch(t, review, first)

			var pod podView
			if err := json.Unmarshal(patched, &pod); err != nil {
				t.Fatal(err)
			}
			got := map[string]resources{}
			for _, ctr := range pod.Spec.Containers {
				got[ctr.Name] = ctr.Resources
				for res, l := range ctr.Resources.Limits {
					r, ok := ctr.Resources.Requests[res]
					lq, rq := resource.MustParse(l), resource.MustParse(r)
					if ok && lq.Cmp(rq) < 0 {
						t.Errorf("container %s: %s limit %s is below its request %s", ctr.Name, res, l, r)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("resources after mutation = %v\nwant %v", got, c.want)
			}
			if a := pod.Metadata.Annotations["podguard.io/defaults"]; a != c.annotation {
				t.Errorf("annotation podguard.io/defaults = %q\nwant %q", a, c.annotation)
			}

			// Mutating the output again adds nothing.
			again := response(normalize(t, s.post(t, "/mutate", withObject(t, review, patched))))
			if _, ok := again["patch"]; ok || again["patchType"] != nil {
				t.Errorf("second mutation patched again: %v", again)
			}
			if st, _ := again["status"].(map[string]any); again["allowed"] != true || st["message"] != "nothing to add" {
				t.Errorf("second mutation: allowed=%v status=%v, want allowed, \"nothing to add\"", again["allowed"], st)
			}

			// The mutated Pod satisfies the resource rules (the rest of it is compliant).
			v := response(normalize(t, s.post(t, "/validate", withObject(t, review, patched))))
			if v["allowed"] != true || v["warnings"] != nil {
				t.Errorf("validate after mutate: %v", v)
			}
		})
	}
}

// metricValue reads one sample of the Prometheus text exposition, 0 when absent.
func metricValue(t *testing.T, s *testServer, series string) float64 {
	t.Helper()
	code, body := get(t, s.metrics+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

func TestHealthAndMetrics(t *testing.T) {
	s := startServer(t, t.Context(), Options{})

	if code, body := get(t, s.health+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz = %d %s, want 200", code, body)
	}
	code, body := get(t, s.health+"/readyz")
	if code != http.StatusOK || !regexp.MustCompile(`^ok\nrevision: [0-9a-f]{12}\n$`).MatchString(body) {
		t.Errorf("GET /readyz = %d %q, want 200 \"ok\\nrevision: <12 hex digits>\\n\"", code, body)
	}
	revision := strings.TrimSpace(strings.TrimPrefix(body, "ok\nrevision: "))
	if v := metricValue(t, s, `podguard_policy_revision_info{revision="`+revision+`"}`); v != 1 {
		t.Errorf("podguard_policy_revision_info{revision=%q} = %v, want 1", revision, v)
	}
	if v := metricValue(t, s, `podguard_policy_reloads_total{result="success"}`); v < 1 {
		t.Errorf("podguard_policy_reloads_total{result=\"success\"} = %v, want at least 1", v)
	}
	certPEM, err := os.ReadFile(filepath.Join(s.certDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	// The gauge is refreshed at each reload tick.
	waitUntil(t, 5*time.Second, "podguard_serving_certificate_expiry_timestamp_seconds at the served certificate's NotAfter", func() bool {
		return metricValue(t, s, "podguard_serving_certificate_expiry_timestamp_seconds") == float64(cert.NotAfter.Unix())
	})

	denySeries := `podguard_decisions_total{decision="deny",operation="CREATE",webhook="validate"}`
	imageSeries := `podguard_violations_total{enforcement="deny",rule="image-tag",webhook="validate"}`
	skipSeries := `podguard_decisions_total{decision="skip",operation="DELETE",webhook="validate"}`
	patchedSeries := `podguard_decisions_total{decision="patched",operation="CREATE",webhook="mutate"}`
	denyBefore := metricValue(t, s, denySeries)
	imageBefore := metricValue(t, s, imageSeries)
	skipBefore := metricValue(t, s, skipSeries)
	patchedBefore := metricValue(t, s, patchedSeries)
	// Every review passes the evaluation gate, skipped ones included.
	slotSeries := "podguard_evaluation_slot_wait_seconds_count"
	slotBefore := metricValue(t, s, slotSeries)

	s.post(t, "/validate", readRequest(t, "pod-create-violating"))
	s.post(t, "/validate", readRequest(t, "pod-delete"))
	s.post(t, "/mutate", readRequest(t, "mutate-pod-no-resources"))

	for series, want := range map[string]float64{
		denySeries:    denyBefore + 1,
		imageSeries:   imageBefore + 1,
		skipSeries:    skipBefore + 1,
		patchedSeries: patchedBefore + 1,
		slotSeries:    slotBefore + 3,
	} {
		if got := metricValue(t, s, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	_, body = get(t, s.metrics+"/metrics")
	for _, name := range []string{
		"# TYPE podguard_decisions_total counter",
		"# TYPE podguard_violations_total counter",
		"# TYPE podguard_evaluation_duration_seconds histogram",
		`podguard_evaluation_duration_seconds_count{webhook="validate"}`,
		`podguard_evaluation_duration_seconds_count{webhook="mutate"}`,
		`podguard_webhook_requests_total{code="200",webhook="validate"}`,
		`podguard_webhook_requests_total{code="200",webhook="mutate"}`,
		`podguard_webhook_request_duration_seconds_count{webhook="validate"}`,
		`podguard_webhook_requests_in_flight{webhook="validate"} 0`,
	} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestAuditIsLoggedAndCounted: audit violations produce no warning but are logged and
// counted.
func TestAuditIsLoggedAndCounted(t *testing.T) {
	s := startServer(t, t.Context(), Options{
		ConfigFile: filepath.Join("testdata", "config", "custom.yaml"),
		PolicyDir:  filepath.Join("testdata", "policies"),
	})
	series := `podguard_violations_total{enforcement="audit",rule="readiness-probe",webhook="validate"}`
	before := metricValue(t, s, series)
	resp := response(normalize(t, s.post(t, "/validate", readRequest(t, "custom-readiness-audit"))))
	if resp["allowed"] != true || resp["warnings"] != nil {
		t.Fatalf("audit: %v", resp)
	}
	if got := metricValue(t, s, series); got != before+1 {
		t.Errorf("%s = %v, want %v", series, got, before+1)
	}
	var req struct {
		Request struct {
			UID string `json:"uid"`
		} `json:"request"`
	}
	if err := json.Unmarshal(readRequest(t, "custom-readiness-audit"), &req); err != nil {
		t.Fatal(err)
	}
	if lines := logs.containing("audit violations", "readiness-probe", req.Request.UID); len(lines) == 0 {
		t.Errorf("no log line of the audit violation")
	}
}

func TestTLS(t *testing.T) {
	s := startServer(t, t.Context(), Options{})
	addr := "127.0.0.1:" + strconv.Itoa(s.port)
	dial := func(cfg *tls.Config) (*tls.Conn, error) {
		cfg.RootCAs = s.ca.pool
		d := &tls.Dialer{Config: cfg}
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			return nil, err
		}
		return c.(*tls.Conn), nil
	}

	t.Run("client offering only h2 does not get h2", func(t *testing.T) {
		c, err := dial(&tls.Config{NextProtos: []string{"h2"}})
		if err != nil {
			// Go refuses a handshake without a common protocol (no_application_protocol).
			if !strings.Contains(err.Error(), "no application protocol") {
				t.Fatalf("handshake: %v", err)
			}
			return
		}
		defer c.Close()
		if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
			t.Errorf("negotiated %q", p)
		}
	})
	t.Run("client offering h2 and http/1.1 gets http/1.1", func(t *testing.T) {
		c, err := dial(&tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
			t.Errorf("negotiated %q, want http/1.1", p)
		}
	})
	t.Run("HTTP client attempting HTTP/2 speaks HTTP/1.1", func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: s.ca.pool},
			ForceAttemptHTTP2: true,
		}}
		resp, err := client.Post(s.url+"/validate", "application/json", strings.NewReader(string(readRequest(t, "pod-create-compliant"))))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 1 {
			t.Errorf("proto %s, want HTTP/1.1", resp.Proto)
		}
	})
	t.Run("TLS 1.1 client is refused", func(t *testing.T) {
		c, err := dial(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		if err == nil {
			c.Close()
			t.Fatalf("TLS 1.1 handshake succeeded (version %x)", c.ConnectionState().Version)
		}
		if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("handshake error %v, want a protocol version alert", err)
		}
	})
	t.Run("TLS 1.2 client is accepted and verifies the serving certificate", func(t *testing.T) {
		c, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if v := c.ConnectionState().Version; v != tls.VersionTLS12 {
			t.Errorf("version %x, want TLS 1.2", v)
		}
	})
	t.Run("with --tls-min-version 1.3 a TLS 1.2 client is refused", func(t *testing.T) {
		s13 := startServer(t, t.Context(), Options{TLSMinVersion: "1.3"})
		d := &tls.Dialer{Config: &tls.Config{RootCAs: s13.ca.pool, MaxVersion: tls.VersionTLS12}}
		c, err := d.DialContext(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(s13.port))
		if err == nil {
			c.Close()
			t.Fatal("TLS 1.2 handshake succeeded")
		}
		d.Config.MaxVersion = tls.VersionTLS13
		c, err = d.DialContext(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(s13.port))
		if err != nil {
			t.Fatalf("TLS 1.3: %v", err)
		}
		c.Close()
	})
}

// TestCertificateReload: a renewed certificate (cert-manager rewrites the Secret) is served
// without a restart.
func TestCertificateReload(t *testing.T) {
	s := startServer(t, t.Context(), Options{})
	serial := func() (int64, error) {
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
	}
	if n, err := serial(); err != nil || n != 2 {
		t.Fatalf("serial %d, %v; want 2", n, err)
	}
	s.ca.writeServing(t, s.certDir, 3)
	waitUntil(t, 10*time.Second, "serial 3 served", func() bool {
		n, err := serial()
		return err == nil && n == 3
	})
}

// TestShutdown: after the context ends, readiness turns false while reviews are still
// answered for the shutdown delay; then Run returns nil.
func TestShutdown(t *testing.T) {
	// The checks must be made within the delay, which a busy machine can outlast: then
	// they are made again with a delay four times as long, until they fit.
	for delay := 2 * time.Second; !shutdownServes(t, delay); delay *= 4 {
		t.Logf("the %v shutdown delay ended before the checks were made: again with a longer one", delay)
	}
}

// shutdownServes makes TestShutdown's checks with the given delay. It reports false when
// a check fell short after the delay had ended, which says nothing about the delay.
func shutdownServes(t *testing.T, delay time.Duration) bool {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := startServer(t, ctx, Options{ShutdownDelay: delay})
	cancel()
	stoppedAt := time.Now()
	over := func() bool { return time.Since(stoppedAt) >= delay }
	fetch := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, body := 0, ""
	waitUntil(t, time.Second, "/readyz 503 after shutdown began", func() bool {
		code, body = fetch(s.health + "/readyz")
		return code == http.StatusServiceUnavailable || over()
	})
	if code != http.StatusServiceUnavailable {
		return false
	}
	if !strings.Contains(body, "shutdown: shutting down") {
		t.Errorf("/readyz during shutdown: %q, want it to name the shutdown check", body)
	}
	if code, body := fetch(s.health + "/healthz"); code != http.StatusOK {
		if over() {
			return false
		}
		t.Errorf("/healthz = %d %s during the shutdown delay, want 200", code, body)
	}
	resp, err := s.client.Post(s.url+"/validate", "application/json", bytes.NewReader(readRequest(t, "pod-create-compliant")))
	if err != nil {
		if over() {
			return false
		}
		t.Fatalf("review during the shutdown delay: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if r := response(normalize(t, answer)); r["allowed"] != true {
		t.Errorf("review during the shutdown delay: %v", r)
	}

	err = <-s.done
	took := time.Since(stoppedAt)
	s.done <- nil // for the cleanup
	t.Logf("Run returned %v after the context ended, with a shutdown delay of %v", took.Round(time.Millisecond), delay)
	if took < delay {
		t.Errorf("Run returned %v after the context ended, before the %v shutdown delay", took, delay)
	}
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	return true
}

// TestRunRefusesBadStart: start-up errors are returned, not served around. Those the
// operator fixes on the command line (a bad value, a path that does not exist) are
// *OptionError, which `podguard serve` reports on one line with exit status 2.
func TestRunRefusesBadStart(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	newTestCA(t).writeServing(t, certDir, 2)
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// ok has every option right; each case breaks one.
	ok := func(edit func(o *Options)) Options {
		o := Options{CertDir: certDir, Port: freePort(t, ":0"), EvalTimeout: time.Second, ReloadInterval: time.Second,
			HealthAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"}
		edit(&o)
		return o
	}
	cases := map[string]struct {
		o      Options
		want   string
		option bool
	}{
		"missing cert dir":                {ok(func(o *Options) { o.CertDir = "" }), "--cert-dir is required", true},
		"bad TLS version":                 {ok(func(o *Options) { o.TLSMinVersion = "1.1" }), `--tls-min-version "1.1": use 1.2 or 1.3`, true},
		"unknown evaluator":               {ok(func(o *Options) { o.Evaluator = "wasm" }), `--evaluator: evaluator "wasm": use plan or rego`, true},
		"zero eval timeout":               {ok(func(o *Options) { o.EvalTimeout = 0 }), "--eval-timeout must be positive", true},
		"negative reload interval":        {ok(func(o *Options) { o.ReloadInterval = -time.Second }), "--reload-interval must not be negative", true},
		"negative shutdown":               {ok(func(o *Options) { o.ShutdownDelay = -1 }), "--shutdown-delay must not be negative", true},
		"negative connections":            {ok(func(o *Options) { o.MaxConnections = -1 }), "--max-connections must not be negative", true},
		"negative connections per source": {ok(func(o *Options) { o.MaxConnectionsPerSource = -1 }), "--max-connections-per-source must not be negative", true},
		"port out of range":               {ok(func(o *Options) { o.Port = 70000 }), "--port 70000 is not a TCP port", true},
		"cert dir without a certificate": {ok(func(o *Options) { o.CertDir = empty }),
			"--cert-dir: " + filepath.Join(empty, "tls.crt") + " does not exist", true},
		"cert dir that is a file":        {ok(func(o *Options) { o.CertDir = config }), "--cert-dir: " + config + " is not a directory", true},
		"config that does not exist":     {ok(func(o *Options) { o.ConfigFile = filepath.Join(dir, "nope.yaml") }), "--config: " + filepath.Join(dir, "nope.yaml") + " does not exist", true},
		"config that is a directory":     {ok(func(o *Options) { o.ConfigFile = empty }), "--config: " + empty + " is a directory, not a file", true},
		"policy dir that does not exist": {ok(func(o *Options) { o.PolicyDir = filepath.Join(dir, "nope") }), "--policy-dir: " + filepath.Join(dir, "nope") + " does not exist", true},
		"kubeconfig that does not exist": {ok(func(o *Options) { o.Kubeconfig = filepath.Join(dir, "kc") }), "--kubeconfig: " + filepath.Join(dir, "kc") + " does not exist", true},
		"bind address that is not local": {ok(func(o *Options) { o.BindAddress = "192.0.2.1" }), "webhook server: listen tcp 192.0.2.1:", false},
		"health address taken":           {ok(func(o *Options) { o.HealthAddr = ln.Addr().String() }), "health server: listen tcp " + ln.Addr().String(), false},
		"metrics address taken":          {ok(func(o *Options) { o.MetricsAddr = ln.Addr().String() }), "metrics server: listen tcp " + ln.Addr().String(), false},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			// No deadline: Run must return by itself, and one that does not is caught by
			// the test binary's (go test -timeout).
			err := Run(t.Context(), c.o)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("Run = %v, want an error starting with %q", err, c.want)
			}
			var usage *OptionError
			if errors.As(err, &usage) != c.option {
				t.Errorf("Run = %v: an option error: %v, want %v", err, !c.option, c.option)
			}
		})
	}
}

// TestPolicyReload: a broken configuration at start-up leaves podguard up but not ready,
// answering 500; fixing the file makes it ready; later changes are served, and a broken
// change keeps the set being served.
func TestPolicyReload(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config.yaml")
	write := func(content string) {
		t.Helper()
		// Write a new file and rename it over the old, as a ConfigMap update does.
		tmp := config + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, config); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  no-such-rule: {enforcement: deny}\n")
	s := launchServer(t, t.Context(), Options{ConfigFile: config})

	// The review of a Pod missing only its liveness probe tells which set is served.
	review := readRequest(t, "custom-liveness-warn")
	eventually := func(what string, cond func() bool) {
		t.Helper()
		waitUntil(t, 10*time.Second, what, cond)
	}

	// Broken at start: up, not ready, every review answered with 500.
	eventually("webhook listening", func() bool {
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port), &tls.Config{RootCAs: s.ca.pool})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	code, body := get(t, s.health+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "policies: no policy set is loaded") || !strings.Contains(body, "revision: none") {
		t.Errorf("/readyz with a broken config = %d %q, want 503 naming the policies check", code, body)
	}
	r := response(normalize(t, s.post(t, "/validate", review)))
	if st, _ := r["status"].(map[string]any); r["allowed"] != false || st["code"] != float64(500) || st["message"] != "no policy set is loaded" {
		t.Errorf("review with no policy set: %v, want 500 \"no policy set is loaded\"", r)
	}
	if lines := logs.containing("policy set refused", "rules.no-such-rule: unknown rule"); len(lines) == 0 {
		t.Errorf("the refused configuration was not logged with its error")
	}

	// Fixed: ready, and the configuration is served.
	write("rules:\n  liveness-probe: {enforcement: warn}\n")
	s.waitReady(t)
	warned := response(normalize(t, s.post(t, "/validate", review)))
	if warned["allowed"] != true || len(warned["warnings"].([]any)) != 1 {
		t.Fatalf("after the fix: %v, want allowed with one warning", warned)
	}

	// A broken change is refused; the set being served stays.
	errorsBefore := metricValue(t, s, `podguard_policy_reloads_total{result="error"}`)
	write("rules:\n  liveness-probe: {enforcement: maybe}\n")
	eventually("refused reload counted", func() bool {
		return metricValue(t, s, `podguard_policy_reloads_total{result="error"}`) > errorsBefore
	})
	if code, _ := get(t, s.health+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after a refused change = %d, want 200 (the previous set is served)", code)
	}
	if got := response(normalize(t, s.post(t, "/validate", review))); !reflect.DeepEqual(got, warned) {
		t.Errorf("after a refused change: %v\nwant the previous answer %v", got, warned)
	}

	// A good change is served.
	write("rules:\n  liveness-probe: {enforcement: deny}\n")
	eventually("deny served", func() bool {
		return response(normalize(t, s.post(t, "/validate", review)))["allowed"] == false
	})
}

// TestHostileQuantitiesDoNotStallOthers: reviews carrying quantities such as 1e999999,
// four at a time (as many as there are evaluation slots here), keep being answered with
// their denial, and good reviews sent meanwhile are answered normally: reading such a
// quantity costs what reading any other does, so it cannot hold a slot.
func TestHostileQuantitiesDoNotStallOthers(t *testing.T) {
	s := startServer(t, t.Context(), Options{ShutdownDelay: 0, MaxEvaluations: 4})
	hostile := [][]byte{readRequest(t, "mutate-pod-huge-memory-request"), readRequest(t, "deployment-create-huge-memory-request")}
	good := readRequest(t, "pod-create-compliant")
	stop := make(chan struct{})
	var hostileDone sync.WaitGroup
	var hostileAnswers atomic.Int64
	for i := range 4 {
		hostileDone.Go(func() {
			body, path := hostile[i%2], []string{"/mutate", "/validate"}[i%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp := response(normalize(t, s.post(t, path, body)))
				status, _ := resp["status"].(map[string]any)
				code, _ := status["code"].(float64)
				if want := []float64{200, 403}[i%2]; code != want {
					t.Errorf("hostile review on %s answered %v: %v", path, code, status)
					return
				}
				hostileAnswers.Add(1)
			}
		})
	}
	for range 50 {
		resp := response(normalize(t, s.post(t, "/validate", good)))
		if resp["allowed"] != true {
			t.Fatalf("good review not allowed while hostile ones are in flight: %v", resp)
		}
	}
	close(stop)
	hostileDone.Wait()
	if hostileAnswers.Load() < 4 {
		t.Errorf("only %d hostile reviews answered", hostileAnswers.Load())
	}
}

// TestCertificateExpiryMetricFollowsServedPair: the expiry metric is the NotAfter of the
// certificate being served. A tls.crt that does not match tls.key is not loaded (the old
// pair is still served), so the metric keeps the served certificate's NotAfter, not the
// new file's; once the matching key arrives, both move together.
func TestCertificateExpiryMetricFollowsServedPair(t *testing.T) {
	s := startServer(t, t.Context(), Options{})
	const series = "podguard_serving_certificate_expiry_timestamp_seconds"
	served := func() *x509.Certificate {
		t.Helper()
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port), &tls.Config{RootCAs: s.ca.pool, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		waitUntil(t, 20*time.Second, what, cond)
	}
	first := served()
	if got := metricValue(t, s, series); got != float64(first.NotAfter.Unix()) {
		t.Fatalf("%s = %v, want the served certificate's NotAfter %d", series, got, first.NotAfter.Unix())
	}

	// A certificate on another key, a day longer: the watcher refuses the pair.
	errorsBefore := metricValue(t, s, "certwatcher_read_certificate_errors_total")
	certPEM, keyPEM := s.ca.servingPair(t, 3, first.NotAfter.Add(24*time.Hour))
	if err := os.WriteFile(filepath.Join(s.certDir, "tls.crt"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("the mismatched pair is refused", func() bool {
		return metricValue(t, s, "certwatcher_read_certificate_errors_total") > errorsBefore
	})
	// The refusal is counted once the watcher has read the pair; the metric is set only
	// from the pair being served, so it must not have moved.
	if c := served(); c.SerialNumber.Int64() != first.SerialNumber.Int64() {
		t.Fatalf("serial %d served after a mismatched certificate, want %d still", c.SerialNumber, first.SerialNumber)
	}
	if got := metricValue(t, s, series); got != float64(first.NotAfter.Unix()) {
		t.Errorf("after a mismatched tls.crt: %s = %v, want the served certificate's NotAfter %d (the file's is %d)",
			series, got, first.NotAfter.Unix(), first.NotAfter.Add(24*time.Hour).Unix())
	}

	// The matching key: the new pair is served, and the metric follows.
	if err := os.WriteFile(filepath.Join(s.certDir, "tls.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("the new pair served", func() bool { return served().SerialNumber.Int64() == 3 })
	want := float64(served().NotAfter.Unix())
	waitFor("the metric follows the served pair", func() bool { return metricValue(t, s, series) == want })
}

// TestEmptyConfigIsRefused: an empty configuration file is what a file looks like
// between its truncation and its rewrite, so it is never taken for "the defaults": at
// start-up podguard stays unready until the file has content (`{}` says "the defaults"),
// and later an emptied file is a refused change that keeps the set being served.
func TestEmptyConfigIsRefused(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config.yaml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(config, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	s := launchServer(t, t.Context(), Options{ConfigFile: config})
	var code int
	var body string
	waitUntil(t, 10*time.Second, "/readyz answers", func() bool {
		resp, err := http.Get(s.health + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		code, body = resp.StatusCode, string(b)
		return true
	})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "policies: no policy set is loaded") {
		t.Fatalf("/readyz %d %q with an empty config, want 503 with the policies check failing", code, body)
	}
	if lines := logs.containing("policy set refused", "config "+config+" is empty"); len(lines) == 0 {
		t.Error("the empty config was not logged as refused")
	}

	write("{}\n")
	s.waitReady(t)
	errorsBefore := metricValue(t, s, `podguard_policy_reloads_total{result="error"}`)
	write("")
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		waitUntil(t, 10*time.Second, what, cond)
	}
	waitFor("the emptied file refused", func() bool {
		return metricValue(t, s, `podguard_policy_reloads_total{result="error"}`) > errorsBefore
	})
	if code, _ := get(t, s.health+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d after the file was emptied, want 200 (the set loaded before is served)", code)
	}
}

// TestPolicyWarningsLogged: a policy directory whose Rego compiles but does nothing (here
// a rule package with `deny` instead of `violation`) is served, and the warning
// `podguard eval` would print is logged with its file and line.
func TestPolicyWarningsLogged(t *testing.T) {
	dir := writeRule(t, "no_privileged", `package pod.rules.no_privileged

deny contains "privileged" if input.spec.containers[_].securityContext.privileged
`)
	startServer(t, t.Context(), Options{PolicyDir: dir})
	file := filepath.Join(dir, "no_privileged", "no_privileged.rego")
	if lines := logs.containing(`"policy warning"`, file, `"line"=3`, "rule deny is never read"); len(lines) == 0 {
		t.Errorf("no policy warning logged for %s", file)
	}
}
