package lifecycle

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/podguard/podguard/test/harness"
)

// process is a `podguard serve` this test started. The harness's process offers no way
// to send a signal and read the exit status, which the SIGTERM test needs.
type process struct {
	url, healthURL, metricsURL string
	logPath                    string
	cmd                        *exec.Cmd
	done                       chan struct{}
	exitErr                    error     // set before done is closed
	exitedAt                   time.Time // set before done is closed
}

// startPodguard runs podguard serve on free loopback ports with the certificate in
// certDir and the extra args, and waits until it is ready. The ports are picked before
// podguard binds them; when another process took one in between, podguard is started
// again on new ones.
func startPodguard(t *testing.T, certDir string, args ...string) *process {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p, err := launchPodguard(t, certDir, args...)
		if err == nil {
			return p
		}
		if attempt == 3 || !strings.Contains(p.log(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("starting again: %v", err)
	}
}

func launchPodguard(t *testing.T, certDir string, args ...string) (*process, error) {
	t.Helper()
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := harness.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{
		url:        "https://127.0.0.1:" + strconv.Itoa(ports[0]),
		healthURL:  "http://127.0.0.1:" + strconv.Itoa(ports[1]),
		metricsURL: "http://127.0.0.1:" + strconv.Itoa(ports[2]),
		logPath:    filepath.Join(t.TempDir(), "podguard.log"),
		done:       make(chan struct{}),
	}
	// How long a review takes is the machine's business here: --eval-timeout is as long
	// as go test's default -timeout, so a busy machine slows reviews without failing them.
	all := append([]string{"serve",
		"--eval-timeout", "10m",
		"--cert-dir", certDir,
		"--bind-address", "127.0.0.1",
		"--port", strconv.Itoa(ports[0]),
		"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(ports[1]),
		"--metrics-bind-address", "127.0.0.1:" + strconv.Itoa(ports[2]),
		"--watch-cluster=false",
	}, args...)
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, all...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		p.exitedAt = time.Now()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("podguard output:\n%s", p.logTail())
		}
	})
	exited := false
	waitUntil(t, 10*time.Second, "podguard ready", func() bool {
		select {
		case <-p.done:
			exited = true
			return true
		default:
		}
		return p.readyz() == http.StatusOK
	})
	if exited {
		return p, fmt.Errorf("podguard exited before it was ready: %v\n%s", p.exitErr, p.logTail())
	}
	return p, nil
}

func (p *process) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// stop ends the process if it still runs: SIGTERM, then SIGKILL after 20s.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// readyz returns the status of /readyz, 0 when it cannot be reached.
func (p *process) readyz() int {
	resp, err := http.Get(p.healthURL + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metric returns the value of one series on /metrics, -1 when absent.
func (p *process) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(p.metricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// logTail is the end of podguard's output without the line logged for each review.
func (p *process) logTail() string {
	var kept []string
	for _, line := range strings.Split(p.log(), "\n") {
		if !strings.Contains(line, `"logger":"admission"`) {
			kept = append(kept, line)
		}
	}
	if len(kept) > 60 {
		kept = kept[len(kept)-60:]
	}
	return strings.Join(kept, "\n")
}

func (p *process) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func newCA(t *testing.T) *harness.CA {
	t.Helper()
	ca, err := harness.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// serving is a serving certificate from ca, as the files of a Secret volume.
func serving(t *testing.T, ca *harness.CA, serial int64) map[string][]byte {
	t.Helper()
	files, err := ca.Serving(serial)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// servedSerial is the serial number of the certificate a new connection gets.
func servedSerial(url string, pool *x509.CertPool) (int64, error) {
	c, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: pool})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

// volume is a directory laid out as the kubelet writes Secret and ConfigMap volumes:
// each file is a symlink to ..data/<name>, and ..data a symlink to a timestamped
// directory. An update writes a new timestamped directory, points ..data_tmp at it,
// renames that over ..data (the one atomic step), then removes the old directory.
type volume struct {
	dir string
	gen int
}

func newVolume(t *testing.T, files map[string][]byte) *volume {
	t.Helper()
	v := &volume{dir: t.TempDir()}
	v.update(t, files)
	return v
}

func (v *volume) path(name string) string { return filepath.Join(v.dir, name) }

func (v *volume) update(t *testing.T, files map[string][]byte) {
	t.Helper()
	v.gen++
	ts := fmt.Sprintf("..2026_01_01_00_00_00.%09d", v.gen)
	if err := os.Mkdir(v.path(ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(v.path(ts), name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.Readlink(v.path("..data"))
	if err := os.Symlink(ts, v.path("..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(v.path("..data_tmp"), v.path("..data")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(v.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, keep := files[e.Name()]; !keep && !strings.HasPrefix(e.Name(), "..") {
			if err := os.Remove(v.path(e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range files {
		if _, err := os.Lstat(v.path(name)); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", name), v.path(name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(v.path(old)); err != nil {
			t.Fatal(err)
		}
	}
}

// podReview is a CREATE review of a Pod that is compliant but for what missing leaves
// out ("livenessProbe", or "" for nothing). Its label podguard.test/lifecycle is what
// the reload test's custom rule looks for.
func podReview(uid, missing string) []byte {
	liveness := `"livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},`
	if missing == "livenessProbe" {
		liveness = ""
	}
	return fmt.Appendf(nil, `{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
  "uid": %q, "kind": {"group": "", "version": "v1", "kind": "Pod"},
  "resource": {"group": "", "version": "v1", "resource": "pods"},
  "name": "web", "namespace": "default", "operation": "CREATE", "userInfo": {"username": "alice"},
  "object": {"apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app.kubernetes.io/name": "web", "podguard.test/lifecycle": "yes"}},
    "spec": {"containers": [{"name": "app", "image": "registry.example.com/web:1.4.2",
      "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
      %s
      "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}}]}}}}`, uid, liveness)
}

// answer is the part of a review answer the load checks.
type answer struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Response   struct {
		UID      string   `json:"uid"`
		Allowed  bool     `json:"allowed"`
		Warnings []string `json:"warnings"`
		Status   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	} `json:"response"`
}

// load posts reviews from concurrent callers, each on its own kept-alive connection that
// it replaces every few requests (so certificate changes meet new handshakes), until
// stopped: at most 100,000 reviews per caller. Every answer is judged; anything but an
// expected verdict is a failure. There is no time bound: each review takes what the
// machine gives it, and the test binary bounds the whole.
type load struct {
	sent, failed atomic.Int64

	mu       sync.Mutex
	failures []string
	verdicts map[string]int

	stopOnce sync.Once
	stopping chan struct{}
	wg       sync.WaitGroup
}

type loadSpec struct {
	url     string
	pool    *x509.CertPool
	workers int
	// body is the review sent with a given uid.
	body func(uid string) []byte
	// verdict names an answer, or says why it is wrong.
	verdict func(a answer) (string, error)
	// phases, when set, are the verdicts in the order they must appear: each caller may
	// move on to the next one, never back.
	phases []string
}

func startLoad(t *testing.T, spec loadSpec) *load {
	t.Helper()
	l := &load{stopping: make(chan struct{}), verdicts: map[string]int{}}
	for w := range spec.workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: spec.pool}, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			phase := 0
			for i := 0; i < 100000; i++ {
				select {
				case <-l.stopping:
					return
				default:
				}
				if i%20 == 19 {
					tr.CloseIdleConnections()
				}
				uid := fmt.Sprintf("load-%d-%d", w, i)
				l.sent.Add(1)
				v, err := post(client, spec.url+"/validate", spec.body(uid), uid, spec.verdict)
				if err == nil && spec.phases != nil {
					switch {
					case v == spec.phases[phase]:
					case phase+1 < len(spec.phases) && v == spec.phases[phase+1]:
						phase++
					default:
						err = fmt.Errorf("verdict %q after %q (phases %v)", v, spec.phases[phase], spec.phases)
					}
				}
				l.mu.Lock()
				if err != nil {
					l.failed.Add(1)
					if len(l.failures) < 20 {
						l.failures = append(l.failures, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), uid, err))
					}
				} else {
					l.verdicts[v]++
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func post(client *http.Client, url string, body []byte, uid string, verdict func(answer) (string, error)) (string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return "", fmt.Errorf("answer is not a review: %v: %s", err, raw)
	}
	if a.APIVersion != "admission.k8s.io/v1" || a.Kind != "AdmissionReview" || a.Response.UID != uid {
		return "", fmt.Errorf("answer is not the review of %s: %s", uid, raw)
	}
	return verdict(a)
}

// seen is how many answers had the verdict v so far.
func (l *load) seen(v string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.verdicts[v]
}

func (l *load) stop() {
	l.stopOnce.Do(func() { close(l.stopping) })
	l.wg.Wait()
}

// check stops the load and fails the test for every failed review.
func (l *load) check(t *testing.T) {
	t.Helper()
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("load: %d reviews sent, %d failed, verdicts %v", l.sent.Load(), l.failed.Load(), l.verdicts)
	if n := l.failed.Load(); n > 0 {
		t.Errorf("%d of %d reviews failed; first ones:\n%s", n, l.sent.Load(), strings.Join(l.failures, "\n"))
	}
	if l.sent.Load() == 0 {
		t.Error("no review was sent")
	}
}

// allowed is the verdict of the compliant Pod.
func allowed(a answer) (string, error) {
	if !a.Response.Allowed || a.Response.Status.Code != http.StatusOK || len(a.Response.Warnings) > 0 {
		return "", fmt.Errorf("not a plain allow: allowed=%v code=%d %q warnings %v", a.Response.Allowed, a.Response.Status.Code, a.Response.Status.Message, a.Response.Warnings)
	}
	return "allow", nil
}

// waitUntil polls cond every 20ms until it holds, and logs and returns how long that
// took. How long is the machine's business, so it has no bound of its own: past
// slowAfter it logs that it is still waiting, and it fails only as the test binary's
// deadline (go test -timeout) nears.
func waitUntil(t *testing.T, slowAfter time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	giveUp := time.Time{}
	if deadline, ok := t.Deadline(); ok {
		giveUp = deadline.Add(-10 * time.Second)
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
