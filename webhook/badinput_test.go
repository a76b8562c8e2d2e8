package webhook

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// undecodable is the answer to a body that is not a review's JSON.
func undecodable(msg string) string {
	return reviewError("admission.k8s.io/v1", "", 400, "the request body is not a valid AdmissionReview: "+msg)
}

// reviewError is an error answered as an AdmissionReview of the given version.
func reviewError(apiVersion, uid string, code int, msg string) string {
	return fmt.Sprintf(`{"kind":"AdmissionReview","apiVersion":%q,"response":{"uid":%q,"allowed":false,"status":{"metadata":{},"message":%q,"code":%d}}}`,
		apiVersion, uid, msg, code)
}

// rawPost sends body as it is, with contentType unless it is empty; length -1 sends the
// body chunked, without a declared length.
func (s *testServer) rawPost(t *testing.T, path, contentType string, body io.Reader, length int64) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d, want 200 with the error in the review: %s", path, resp.StatusCode, out)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("POST %s: Content-Type %q, want application/json", path, ct)
	}
	return out
}

func assertJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("answer\n%s\nwant\n%s", got, want)
	}
}

// editReview decodes a review, lets edit change it, and encodes it again.
func editReview(t *testing.T, review []byte, edit func(review, request map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(review, &m); err != nil {
		t.Fatal(err)
	}
	request, _ := m["request"].(map[string]any)
	edit(m, request)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nestedArrays is an array nested depth levels deep.
func nestedArrays(depth int) json.RawMessage {
	return json.RawMessage(strings.Repeat("[", depth) + strings.Repeat("]", depth))
}

// tooDeepAt is the offset of the bracket that nests JSON text deeper than a review may
// be (reviewDepthLimit).
func tooDeepAt(text []byte) int {
	depth, inString := 0, false
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '[' || c == '{'):
			if depth++; depth > reviewDepthLimit {
				return i
			}
		case !inString && (c == ']' || c == '}'):
			depth--
		}
	}
	return -1
}

// stillServes checks that the server answers a good review after a bad one.
func (s *testServer) stillServes(t *testing.T, path string) {
	t.Helper()
	resp := response(normalize(t, s.post(t, path, readRequest(t, "pod-create-compliant"))))
	if resp["allowed"] != true || resp["uid"] != "00000000-0000-4000-8000-000000000001" {
		t.Errorf("good review after the bad one: %v, want allowed with its uid", resp)
	}
}

// TestBadInput: each malformed call gets an AdmissionReview error with its code and a
// message that says what is wrong, from both webhooks, and the next good review is served.
func TestBadInput(t *testing.T) {
	s := startServer(t, t.Context(), Options{})
	good := readRequest(t, "pod-create-compliant")
	deepInPod := editReview(t, good, func(_, r map[string]any) {
		r["object"].(map[string]any)["spec"].(map[string]any)["x"] = nestedArrays(10000)
	})
	const uid = "00000000-0000-4000-8000-000000000001"
	const v1 = "admission.k8s.io/v1"

	cases := map[string]struct {
		contentType string
		body        []byte
		want        string
	}{
		"empty body": {
			"application/json", nil,
			reviewError(v1, "", 400, "request body is empty"),
		},
		"malformed JSON": {
			"application/json", []byte(`{"apiVersion": admission.k8s.io/v1}`),
			undecodable("invalid JSON at offset 15: unexpected character 'a'"),
		},
		"truncated JSON": {
			"application/json", good[:len(good)/2],
			undecodable(fmt.Sprintf("invalid JSON at offset %d: unexpected end of input", len(good)/2)),
		},
		"JSON that is not an object": {
			"application/json", []byte(`[{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}]`),
			reviewError(v1, "", 400, "the request body is not a JSON object"),
		},
		"JSON null": {
			"application/json", []byte(`null`),
			reviewError(v1, "", 400, "the request body is not a JSON object"),
		},
		"Content-Type text/plain": {
			"text/plain", good,
			reviewError(v1, "", 400, `Content-Type "text/plain" is not application/json`),
		},
		"Content-Type with a charset (the API server sends none)": {
			"application/json; charset=utf-8", good,
			reviewError(v1, "", 400, `Content-Type "application/json; charset=utf-8" is not application/json`),
		},
		"no Content-Type": {
			"", good,
			reviewError(v1, "", 400, `Content-Type "" is not application/json`),
		},
		"review without a request": {
			"application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
			reviewError(v1, "", 400, "the AdmissionReview has no request"),
		},
		"request: null": {
			"application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`),
			reviewError(v1, "", 400, "the AdmissionReview has no request"),
		},
		"request without a uid": {
			"application/json", editReview(t, good, func(_, r map[string]any) { delete(r, "uid") }),
			reviewError(v1, "", 400, "request.uid is empty"),
		},
		"request without an operation": {
			"application/json", editReview(t, good, func(_, r map[string]any) { delete(r, "operation") }),
			reviewError(v1, uid, 400, `request.operation "" is not CREATE, UPDATE, DELETE or CONNECT`),
		},
		"unknown operation": {
			"application/json", editReview(t, good, func(_, r map[string]any) { r["operation"] = "PATCH" }),
			reviewError(v1, uid, 400, `request.operation "PATCH" is not CREATE, UPDATE, DELETE or CONNECT`),
		},
		"object: null on CREATE": {
			"application/json", editReview(t, good, func(_, r map[string]any) { r["object"] = nil }),
			reviewError(v1, uid, 400, "the request carries no object (request.object is null or missing)"),
		},
		"admission.k8s.io/v1beta1 review": {
			"application/json", editReview(t, good, func(m, _ map[string]any) { m["apiVersion"] = "admission.k8s.io/v1beta1" }),
			reviewError("admission.k8s.io/v1beta1", uid, 400,
				"AdmissionReview admission.k8s.io/v1beta1 is not served: podguard reads admission.k8s.io/v1 (admissionReviewVersions: [v1] in the webhook configuration)"),
		},
		"a Pod instead of a review": {
			"application/json", []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[]}}`),
			reviewError(v1, "", 400, "the body is a v1 Pod, not an AdmissionReview"),
		},
		"JSON nested 10,000 deep in an unknown Pod field": {
			"application/json", deepInPod,
			undecodable(fmt.Sprintf("invalid JSON at offset %d: nested more than 256 deep", tooDeepAt(deepInPod))),
		},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			for _, path := range []string{"/validate", "/mutate"} {
				got := s.rawPost(t, path, c.contentType, bytes.NewReader(c.body), int64(len(c.body)))
				assertJSON(t, got, c.want)
				s.stillServes(t, path)
			}
		})
	}
}

// TestDeepButDecodableObject: an object nested as deep as a review may be
// (reviewDepthLimit) reaches the policies, whose input conversion must neither overflow
// nor error.
func TestDeepButDecodableObject(t *testing.T) {
	s := startServer(t, t.Context(), Options{})
	// The review, its request, the object and its spec are four levels.
	body := editReview(t, readRequest(t, "pod-create-compliant"), func(_, r map[string]any) {
		r["object"].(map[string]any)["spec"].(map[string]any)["x"] = nestedArrays(reviewDepthLimit - 4)
	})
	assertJSON(t, s.rawPost(t, "/validate", "application/json", bytes.NewReader(body), int64(len(body))),
		`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"00000000-0000-4000-8000-000000000001","allowed":true,"status":{"metadata":{},"code":200}}}`)
}

// spaces is an endless stream of spaces, so a test can send 100 MB without holding it.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// allocated runs f and returns how many bytes the process allocated meanwhile, and how
// much more heap is live after it than before.
func allocated(f func()) (total, retained int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	total = int64(after.TotalAlloc - before.TotalAlloc)
	runtime.GC()
	runtime.ReadMemStats(&after)
	return total, int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// TestBadInputMemory: bodies over the limit are refused with 413 after reading at most
// the limit, or nothing when their length is declared; a body nested 10,000 deep costs
// little; nothing of either stays on the heap. The bounds are what the whole test
// process may allocate meanwhile, client included.
func TestBadInputMemory(t *testing.T) {
	// No reload ticks: they would allocate while the test measures.
	s := startServer(t, t.Context(), Options{ReloadInterval: time.Hour})
	tooLarge := reviewError("admission.k8s.io/v1", "", 413, "request body is too large: it must be smaller than 7 MiB (7340032 bytes)")
	prefix := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":"`
	huge := func(n int64) io.Reader { return io.MultiReader(strings.NewReader(prefix), io.LimitReader(spaces{}, n)) }
	nested := editReview(t, readRequest(t, "pod-create-compliant"), func(_, r map[string]any) {
		r["object"].(map[string]any)["spec"].(map[string]any)["x"] = nestedArrays(10000)
	})
	const MiB = 1 << 20

	cases := map[string]struct {
		body     func() io.Reader
		length   int64 // -1: chunked
		want     string
		maxAlloc int64
	}{
		"100 MB body with its length declared: refused unread": {
			func() io.Reader { return huge(100 * 1000 * 1000) }, int64(len(prefix)) + 100*1000*1000,
			tooLarge, 1 * MiB,
		},
		"7 MiB body with its length declared: refused unread": {
			func() io.Reader { return huge(7 * MiB) }, int64(len(prefix)) + 7*MiB,
			tooLarge, 1 * MiB,
		},
		// Reading stops at the limit, so the bound is far below the body; it leaves room
		// for the race detector, which makes sync.Pool drop buffers.
		"1 GB body streamed without a length: read up to the limit, then refused": {
			func() io.Reader { return huge(1000 * 1000 * 1000) }, -1,
			tooLarge, 64 * MiB,
		},
		"JSON nested 10,000 deep": {
			func() io.Reader { return bytes.NewReader(nested) }, int64(len(nested)),
			undecodable(fmt.Sprintf("invalid JSON at offset %d: nested more than 256 deep", tooDeepAt(nested))), 2 * MiB,
		},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			var got []byte
			total, retained := allocated(func() { got = s.rawPost(t, "/validate", "application/json", c.body(), c.length) })
			assertJSON(t, got, c.want)
			t.Logf("allocated %.1f MiB, retained %.1f MiB", float64(total)/MiB, float64(retained)/MiB)
			if total > c.maxAlloc {
				t.Errorf("allocated %d bytes, want at most %d", total, c.maxAlloc)
			}
			if retained > 1*MiB {
				t.Errorf("%d more bytes live on the heap after the request, want at most 1 MiB", retained)
			}
			s.stillServes(t, "/validate")
		})
	}
}

// podWithContainers is a CREATE review of a Pod with n containers that each lack both
// probes and are otherwise compliant.
func podWithContainers(t *testing.T, n int) []byte {
	t.Helper()
	containers := make([]map[string]any, n)
	for i := range containers {
		containers[i] = map[string]any{
			"name":  "c" + strconv.Itoa(i),
			"image": "registry.example.com/app:1.0",
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "10m", "memory": "16Mi"},
				"limits":   map[string]any{"cpu": "10m", "memory": "16Mi"},
			},
		}
	}
	return editReview(t, readRequest(t, "pod-create-compliant"), func(_, r map[string]any) {
		r["object"].(map[string]any)["spec"].(map[string]any)["containers"] = containers
	})
}

// TestPodWith250Containers: a Pod at the size limit of real workloads is judged in full,
// with one line per container and rule. Its time is the benchmark's business: the
// deadline here only keeps a machine busy with other tests from turning it into an error.
func TestPodWith250Containers(t *testing.T) {
	s := startServer(t, t.Context(), Options{ReloadInterval: time.Hour, EvalTimeout: testDeadline})
	body := podWithContainers(t, 250)
	var resp map[string]any
	start := time.Now()
	total, _ := allocated(func() { resp = response(normalize(t, s.post(t, "/validate", body))) })
	t.Logf("review of %d bytes: answered in %v, allocated %.1f MiB", len(body), time.Since(start).Round(time.Millisecond), float64(total)/(1<<20))
	st, _ := resp["status"].(map[string]any)
	if resp["allowed"] != false || st["code"] != float64(403) {
		t.Fatalf("answer %v, want a 403 denial", resp)
	}
	lines := strings.Split(st["message"].(string), "\n")
	if len(lines) != 500 {
		t.Errorf("%d violation lines, want 500 (liveness and readiness probe of 250 containers)", len(lines))
	}
	for _, want := range []string{
		`[liveness-probe] container "c0": livenessProbe is not set (spec.containers[0].livenessProbe). Fix: set livenessProbe (handler: exec, httpGet, tcpSocket or grpc), so the kubelet restarts the container when it stops responding`,
		`[readiness-probe] container "c249": readinessProbe is not set (spec.containers[249].readinessProbe). Fix: set readinessProbe (handler: exec, httpGet, tcpSocket or grpc), so Services send traffic only when the container is ready to serve it`,
	} {
		if !strings.Contains(st["message"].(string), want+"\n") && !strings.HasSuffix(st["message"].(string), want) {
			t.Errorf("message lacks the line %s", want)
		}
	}
	// An answer this size must stay far below what the API server accepts.
	if total > 64<<20 {
		t.Errorf("allocated %d bytes for one review, want at most 64 MiB", total)
	}
	s.stillServes(t, "/validate")
}

// TestSlowClients: a client that does not finish its headers, or its body, in time is
// cut off; one that stays idle is closed.
func TestSlowClients(t *testing.T) {
	// The timeouts are short to keep the test quick, and a busy machine can reach them
	// before the client has done its part (the TLS handshake counts into the header
	// timeout). Such a run says nothing about the server: it is made again with timeouts
	// four times as long.
	for unit := 300 * time.Millisecond; !slowClients(t, unit); unit *= 4 {
		if unit > time.Minute {
			t.Fatalf("with timeouts of %v, the clients' part still did not fit", unit)
		}
		t.Logf("a timeout of %v ran out before a client had done its part: again with longer ones", unit)
	}
}

// slowClients makes TestSlowClients' checks with a header and idle timeout of unit, and
// a read timeout of twice that. It reports false when a timeout ran out before the
// client had sent what it sends.
func slowClients(t *testing.T, unit time.Duration) bool {
	s := startServer(t, t.Context(), Options{ReadHeaderTimeout: unit, ReadTimeout: 2 * unit, IdleTimeout: unit})
	dial := func() (*tls.Conn, error) {
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port), &tls.Config{RootCAs: s.ca.pool, ServerName: "localhost"})
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	}
	// readAll reads until the server closes the connection, and says when.
	readAll := func(c *tls.Conn) (string, time.Duration) {
		start := time.Now()
		b, _ := io.ReadAll(c)
		return string(b), time.Since(start)
	}

	// Headers never finished: closed after the header timeout, without an answer.
	c, err := dial()
	if err != nil {
		return false
	}
	if _, err := io.WriteString(c, "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"); err != nil {
		return false
	}
	got, after := readAll(c)
	t.Logf("headers never finished: closed %v after they were sent (header timeout %v)", after.Round(time.Millisecond), unit)
	if got != "" {
		t.Errorf("headers never finished: read %q, want nothing before the connection closes", got)
	}

	// Body never finished: answered 400 after the read timeout.
	if c, err = dial(); err != nil {
		return false
	}
	if _, err := io.WriteString(c, "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"apiVersion\":"); err != nil {
		return false
	}
	got, after = readAll(c)
	t.Logf("body never finished: answered %v after the request (read timeout %v)", after.Round(time.Millisecond), 2*unit)
	if got == "" {
		return false // cut off before the headers were read
	}
	_, body, ok := strings.Cut(got, "\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !ok {
		t.Fatalf("body never finished: answer %q, want HTTP 200 with a review", got)
	}
	assertJSON(t, []byte(body), reviewError("admission.k8s.io/v1", "", 400,
		"reading the request body: the request body did not arrive within the read timeout"))

	// Idle kept-alive connection: closed after the idle timeout.
	if c, err = dial(); err != nil {
		return false
	}
	review := readRequest(t, "pod-create-compliant")
	fmt.Fprintf(c, "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(review), review)
	got, after = readAll(c)
	t.Logf("idle after an answer: closed %v after the request (idle timeout %v)", after.Round(time.Millisecond), unit)
	if !strings.Contains(got, `"allowed":true`) {
		return false // cut off before the request was read
	}
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
		t.Errorf("idle after an answer: %q, want the review allowed", got)
	}
	s.stillServes(t, "/validate")
	return true
}

// slowRule takes far longer than any evaluation deadline, building a list of 100 million
// numbers, for Pods with the label podguard.test/slow (so the built-in policy tests run at
// start-up, whose Pods lack it, stay fast).
const slowRule = `package pod.rules.slow

violation contains {"msg": "never", "field": "spec", "container": "", "fix": "none"} if {
	input.labels["podguard.test/slow"]
	count([x | some x in numbers.range(1, 100000000)]) == 0
}
`

// TestExpensiveEvaluationIsCancelled: an evaluation past --eval-timeout is stopped and
// answered with an error, long before the API server's own timeout. The API server
// refuses the request with that message whatever the failurePolicy (test/e2e
// TestPodguardErrorRefuses).
func TestExpensiveEvaluationIsCancelled(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "slow"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "slow", "slow.rego"), []byte(slowRule), 0o644); err != nil {
		t.Fatal(err)
	}
	body := editReview(t, readRequest(t, "pod-create-compliant"), func(_, r map[string]any) {
		r["object"].(map[string]any)["metadata"].(map[string]any)["labels"].(map[string]any)["podguard.test/slow"] = "yes"
	})
	// The deadline must pass while the rule runs. On a busy machine it can pass before,
	// while the review waits to be decoded: that run says nothing, and is made again
	// with a deadline four times as long.
	for timeout := 200 * time.Millisecond; ; timeout *= 4 {
		s := startServer(t, t.Context(), Options{PolicyDir: dir, EvalTimeout: timeout})
		start := time.Now()
		got := s.rawPost(t, "/validate", "application/json", bytes.NewReader(body), -1)
		t.Logf("answered %v after the request, with --eval-timeout %v", time.Since(start).Round(time.Millisecond), timeout)
		if !strings.Contains(string(got), "numbers.range") && timeout < time.Minute {
			t.Logf("the deadline passed before the rule ran (%s): again with a longer one", got)
			continue
		}
		assertJSON(t, got, reviewError("admission.k8s.io/v1", "00000000-0000-4000-8000-000000000001", 500,
			fmt.Sprintf("policy evaluation did not finish within --eval-timeout %v: evaluating policies: eval_cancel_error: numbers.range: timed out before generating all numbers in range", timeout)))
		return
	}
}
