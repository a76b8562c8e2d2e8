package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/responses from the live responses")

// logs collects what the server logs, so tests can check what audit violations write.
var logs logBuffer

type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) add(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, s)
}

// containing returns the logged lines that contain every one of parts.
func (b *logBuffer) containing(parts ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
next:
	for _, l := range b.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

func TestMain(m *testing.M) {
	flag.Parse()
	logf.SetLogger(funcr.New(func(prefix, args string) { logs.add(prefix + " " + args) }, funcr.Options{Verbosity: 1}))
	os.Exit(m.Run())
}

// testCA is a throw-away certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "podguard test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// writeServing issues a serving certificate for localhost and 127.0.0.1, valid for a
// day, and writes it to dir as tls.crt and tls.key.
func (ca *testCA) writeServing(t *testing.T, dir string, serial int64) {
	t.Helper()
	certPEM, keyPEM := ca.servingPair(t, serial, time.Now().Add(24*time.Hour))
	// The key first: the watcher reloads on each write, and the pair only matches once
	// the certificate has been written too.
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
}

// servingPair issues a serving certificate for localhost and 127.0.0.1 on a new key, as
// PEM.
func (ca *testCA) servingPair(t *testing.T, serial int64, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "podguard.podguard.svc"},
		DNSNames:     []string{"localhost", "podguard.podguard.svc"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// testDeadline stands for "no deadline" where one is required: as long as make unit's
// -timeout, so the test binary's own deadline is the one reached.
const testDeadline = time.Hour

// testServer is a running webhook.Run.
type testServer struct {
	url     string // https://127.0.0.1:port
	health  string // http://127.0.0.1:port
	metrics string // http://127.0.0.1:port
	port    int
	certDir string
	ca      *testCA
	client  *http.Client
	done    chan error // receives Run's result
}

// startServer runs webhook.Run with the given options (CertDir, ports and addresses are
// filled in) until ctx ends, and waits until /readyz answers 200.
func startServer(t *testing.T, ctx context.Context, o Options) *testServer {
	t.Helper()
	// The free ports are picked, then bound by Run: on a machine where other tests run
	// too, one may be taken in between, and then the server is started again.
	for attempt := 1; ; attempt++ {
		s := launchServer(t, ctx, o)
		err := s.ready(t)
		if err == nil {
			return s
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("starting again: %v", err)
	}
}

// launchServer starts webhook.Run without waiting for readiness.
func launchServer(t *testing.T, ctx context.Context, o Options) *testServer {
	t.Helper()
	s := &testServer{ca: newTestCA(t), certDir: t.TempDir(), done: make(chan error, 1)}
	s.ca.writeServing(t, s.certDir, 2)
	o.CertDir = s.certDir
	o.Port = freePort(t, ":0")
	o.HealthAddr = "127.0.0.1:" + strconv.Itoa(freePort(t, "127.0.0.1:0"))
	o.MetricsAddr = "127.0.0.1:" + strconv.Itoa(freePort(t, "127.0.0.1:0"))
	// How long a review takes is the machine's business in a test: its deadlines are the
	// test binary's (testDeadline), so a busy machine slows the tests down without
	// failing them. Tests of the deadlines set their own.
	if o.EvalTimeout == 0 {
		o.EvalTimeout = testDeadline
	}
	if o.ReadHeaderTimeout == 0 {
		// Not testDeadline: a client may open a connection it never uses (a transport
		// dialling while an idle connection frees), and shutdown waits for such a
		// connection until its header timeout cuts it. 30 s is far above any wait for
		// headers already sent, and keeps a stop from waiting an hour.
		o.ReadHeaderTimeout = 30 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = testDeadline
	}
	if o.ReloadInterval == 0 {
		o.ReloadInterval = 100 * time.Millisecond
	}
	s.port = o.Port
	s.url = "https://127.0.0.1:" + strconv.Itoa(o.Port)
	s.health = "http://" + o.HealthAddr
	s.metrics = "http://" + o.MetricsAddr
	s.client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.pool, MinVersion: tls.VersionTLS12}},
	}
	go func() { s.done <- Run(ctx, o) }()
	t.Cleanup(func() {
		// ctx (t.Context() or a child) is cancelled before cleanups run.
		stopped := time.Now()
		if err := <-s.done; err != nil {
			t.Errorf("Run returned %v", err)
		}
		t.Logf("Run returned %v after its context ended", time.Since(stopped).Round(time.Millisecond))
	})

	return s
}

// waitReady waits until /readyz answers 200.
func (s *testServer) waitReady(t *testing.T) {
	t.Helper()
	if err := s.ready(t); err != nil {
		t.Fatal(err)
	}
}

// ready waits until /readyz answers 200, and says why not.
func (s *testServer) ready(t *testing.T) error {
	t.Helper()
	var runErr error
	returned := false
	waitUntil(t, 10*time.Second, "/readyz 200", func() bool {
		select {
		case runErr = <-s.done:
			s.done <- nil // for the cleanup
			returned = true
			return true
		default:
		}
		resp, err := http.Get(s.health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if returned {
		return fmt.Errorf("Run returned before becoming ready: %v", runErr)
	}
	return nil
}

// post sends body to the webhook path and returns the HTTP response body.
func (s *testServer) post(t *testing.T, path string, body []byte) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Admission webhooks answer every review with HTTP 200; the verdict is in the body.
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d: %s", path, resp.StatusCode, out)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("POST %s: Content-Type %q", path, ct)
	}
	return out
}

// get fetches a plain-HTTP URL and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// normalize decodes an AdmissionReview answer into plain JSON values, with
// response.patch (base64 in the wire format) decoded into its list of operations, sorted
// by path: the patch generator walks maps in random order, and the operations of a patch
// podguard produces never depend on one another.
func normalize(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	resp, ok := m["response"].(map[string]any)
	if !ok {
		t.Fatalf("answer has no response: %s", body)
	}
	if p, ok := resp["patch"].(string); ok {
		raw, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			t.Fatalf("patch is not base64: %v", err)
		}
		var ops []map[string]any
		if err := json.Unmarshal(raw, &ops); err != nil {
			t.Fatalf("patch is not a JSON patch: %v\n%s", err, raw)
		}
		sort.SliceStable(ops, func(i, j int) bool {
			return fmt.Sprint(ops[i]["path"]) < fmt.Sprint(ops[j]["path"])
		})
		list := make([]any, len(ops))
		for i, op := range ops {
			list[i] = op
		}
		resp["patch"] = list
	}
	return m
}

func marshalIndent(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// compareGolden compares got with testdata/responses/<name>.json, or writes it there
// with -update.
func compareGolden(t *testing.T, name string, got map[string]any) {
	t.Helper()
	path := filepath.Join("testdata", "responses", name+".json")
	gotJSON := marshalIndent(t, got)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, gotJSON, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantJSON, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var want map[string]any
	if err := json.Unmarshal(wantJSON, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("response differs from %s\n--- got\n%s--- want\n%s", path, gotJSON, marshalIndent(t, want))
	}
}

func readRequest(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "requests", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitUntil polls cond until it holds, and logs how long that took. How long is the
// machine's business, so it has no bound of its own: past slowAfter it logs that it is
// still waiting, and it fails only as the test binary's deadline (go test -timeout) nears.
func waitUntil(t testing.TB, slowAfter time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	giveUp := time.Time{}
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			giveUp = deadline.Add(-10 * time.Second)
		}
	}
	next := start.Add(slowAfter)
	for !cond() {
		now := time.Now()
		if !giveUp.IsZero() && now.After(giveUp) {
			t.Fatalf("%s: still not after %v, when the test binary's deadline nears", what, now.Sub(start).Round(time.Millisecond))
		}
		if now.After(next) {
			t.Logf("%s: still waiting after %v", what, now.Sub(start).Round(time.Millisecond))
			next = now.Add(slowAfter)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("%s: after %v", what, took.Round(time.Millisecond))
	return took
}

// allRequests is every review of testdata/requests, by file name.
func allRequests(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "requests", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no request fixtures: %v", err)
	}
	bodies := map[string][]byte{}
	for _, f := range files {
		name := filepath.Base(f)
		bodies[name] = readRequest(t, strings.TrimSuffix(name, ".json"))
	}
	return bodies
}

// response returns the response part of a normalized review.
func response(m map[string]any) map[string]any {
	r, _ := m["response"].(map[string]any)
	return r
}
