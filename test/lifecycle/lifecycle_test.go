package lifecycle

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

const workers = 4

// TestCertificateRotationUnderLoad: three renewals of the serving certificate, written
// as the kubelet updates a Secret volume, are each served without a restart while
// reviews flow, and none fails.
func TestCertificateRotationUnderLoad(t *testing.T) {
	ca := newCA(t)
	certs := newVolume(t, serving(t, ca, 100))
	p := startPodguard(t, certs.dir, "--shutdown-delay", "0s")
	l := startLoad(t, loadSpec{
		url: p.url, pool: ca.Pool, workers: workers,
		body:    func(uid string) []byte { return podReview(uid, "") },
		verdict: allowed,
	})
	waitUntil(t, 5*time.Second, "first answers", func() bool { return l.seen("allow") > 0 })

	for i := int64(1); i <= 3; i++ {
		serial := 100 + i
		before := l.sent.Load()
		certs.update(t, serving(t, ca, serial))
		took := waitUntil(t, 15*time.Second, fmt.Sprintf("serial %d served", serial), func() bool {
			n, err := servedSerial(p.url, ca.Pool)
			return err == nil && n == serial
		})
		// Reviews on connections opened with the new certificate: each caller opens a new
		// one every 20 reviews.
		served := l.sent.Load()
		waitUntil(t, 5*time.Second, fmt.Sprintf("rotation %d: reviews on new connections", i), func() bool {
			return l.sent.Load() > served+20*workers || l.failed.Load() > 0
		})
		t.Logf("rotation %d: serial %d served %v after the swap; %d reviews from the swap on", i, serial, took.Round(time.Millisecond), l.sent.Load()-before)
	}
	l.check(t)
	if v := p.metric(t, "certwatcher_read_certificate_errors_total"); v != 0 {
		t.Errorf("certwatcher_read_certificate_errors_total = %v, want 0", v)
	}
}

// slowResult is the answer to a review whose body arrived in two parts.
type slowResult struct {
	answer   string
	closes   bool // the answer says Connection: close
	finished time.Time
	err      error
}

// slowReview sends the headers and half the body of a review, then the rest once
// between returns, and reads the answer: a request in flight across a moment of the test.
// sent receives the time the first part was sent.
func slowReview(url string, pool *x509.CertPool, sent chan<- time.Time, between func()) slowResult {
	c, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: pool})
	if err != nil {
		sent <- time.Now()
		return slowResult{err: err}
	}
	defer c.Close()
	body := podReview("slow", "")
	half := len(body) / 2
	if _, err := fmt.Fprintf(c, "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:half]); err != nil {
		sent <- time.Now()
		return slowResult{err: err}
	}
	sent <- time.Now()
	between()
	if _, err := c.Write(body[half:]); err != nil {
		return slowResult{err: fmt.Errorf("second half: %w", err)}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return slowResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return slowResult{answer: fmt.Sprintf("%d %s", resp.StatusCode, b), closes: resp.Close, finished: time.Now(), err: err}
}

// TestSIGTERMUnderLoad: on SIGTERM readiness turns false; reviews that keep arriving
// during the shutdown delay are answered; after it the listener closes, a review still
// in flight is finished, and the process exits 0. No review fails.
func TestSIGTERMUnderLoad(t *testing.T) {
	// Each step is taken on what podguard says it did (readiness, its "draining" log
	// line), not on the clock; but the steps of the delay must fit in it, which a busy
	// machine can prevent: then the test is made again with a delay four times as long.
	for delay := 3 * time.Second; !sigtermUnderLoad(t, delay); delay *= 4 {
		if delay > 10*time.Minute {
			t.Fatalf("with a shutdown delay of %v, the steps of the delay still did not fit in it", delay)
		}
		t.Logf("the %v shutdown delay ended before its steps were done: again with a longer one", delay)
	}
}

// sigtermUnderLoad makes TestSIGTERMUnderLoad's checks with the given delay. It reports
// false when the delay ended before the steps meant to happen in it.
func sigtermUnderLoad(t *testing.T, delay time.Duration) bool {
	ca := newCA(t)
	certs := newVolume(t, serving(t, ca, 2))
	p := startPodguard(t, certs.dir, "--shutdown-delay", delay.String())
	l := startLoad(t, loadSpec{
		url: p.url, pool: ca.Pool, workers: workers,
		body:    func(uid string) []byte { return podReview(uid, "") },
		verdict: allowed,
	})
	waitUntil(t, 5*time.Second, "first answers", func() bool { return l.seen("allow") > 0 })

	beforeTerm := l.sent.Load()
	term := time.Now() // before the signal: the delay cannot end before term+delay
	if err := p.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	draining := func() bool { return strings.Contains(p.log(), `"msg":"draining"`) }
	unready := waitUntil(t, time.Second, "/readyz 503 after SIGTERM", func() bool {
		return p.readyz() == http.StatusServiceUnavailable || draining()
	})
	if draining() {
		l.stop()
		return false
	}
	atUnready := l.sent.Load()

	// Calls keep arriving until the endpoints controller has taken this replica out
	// everywhere, which the delay is meant to cover.
	waitUntil(t, time.Second, "reviews sent while not ready", func() bool {
		return l.sent.Load() > atUnready+workers || draining()
	})
	l.stop()
	if draining() {
		return false
	}
	l.check(t)
	served := l.sent.Load() - atUnready
	t.Logf("%d reviews before SIGTERM; /readyz 503 %v after it; %d reviews sent after that, in the delay",
		beforeTerm, unready.Round(time.Millisecond), served)

	// Its headers arrive during the delay, the rest of its body once the drain began.
	sent := make(chan time.Time, 1)
	slow := make(chan slowResult, 1)
	var drainSeen time.Time
	go func() {
		slow <- slowReview(p.url, ca.Pool, sent, func() {
			for !draining() {
				time.Sleep(20 * time.Millisecond)
			}
			drainSeen = time.Now()
		})
	}()
	<-sent
	if draining() {
		<-slow
		return false
	}

	r := <-slow
	// The listener is closed once the drain began.
	waitUntil(t, time.Second, "new connections refused", func() bool {
		c, err := tls.Dial("tcp", strings.TrimPrefix(p.url, "https://"), &tls.Config{RootCAs: ca.Pool})
		if err == nil {
			c.Close()
			return false
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("new connection after the delay: %v, want connection refused", err)
		}
		return true
	})
	if r.err != nil {
		t.Fatalf("review in flight at the drain: %v", r.err)
	}
	const want = `200 {"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"slow","allowed":true,"status":{"metadata":{},"code":200}}}` + "\n"
	if r.answer != want {
		t.Errorf("review in flight at the drain: %q\nwant %q", r.answer, want)
	}
	// So that the caller's next call opens a connection to a replica that is ready.
	if !r.closes {
		t.Error("the answer during shutdown does not say Connection: close")
	}
	if d := drainSeen.Sub(term); d < delay {
		t.Errorf("podguard was draining %v after SIGTERM, before the %v delay ended", d, delay)
	}

	waitUntil(t, 10*time.Second, "podguard exited", func() bool {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	})
	if p.exitErr != nil {
		t.Errorf("exit: %v, want status 0", p.exitErr)
	}
	t.Logf("exited %v after SIGTERM; the drain was seen %v after it, the review in flight answered %v after it",
		p.exitedAt.Sub(term).Round(time.Millisecond), drainSeen.Sub(term).Round(time.Millisecond), r.finished.Sub(term).Round(time.Millisecond))
	for _, msg := range []string{`"msg":"shutting down"`, `"msg":"draining"`, `"msg":"drained"`} {
		if !strings.Contains(p.log(), msg) {
			t.Errorf("log lacks %s", msg)
		}
	}
	return true
}

// lifecycleRule denies every Pod with the label podguard.test/lifecycle, which only the
// reviews of this package carry.
const lifecycleRule = `package pod.rules.lifecycle_deny

violation contains {
	"msg": "the lifecycle test denies this Pod",
	"field": sprintf("%s[%q]", [input.labels_path, "podguard.test/lifecycle"]),
	"container": "",
	"fix": "remove the label",
} if {
	input.labels["podguard.test/lifecycle"]
}
`

const (
	livenessLine = `[liveness-probe] container "app": livenessProbe is not set (spec.containers[0].livenessProbe). Fix: set livenessProbe (handler: exec, httpGet, tcpSocket or grpc), so the kubelet restarts the container when it stops responding`
	customLine   = `[lifecycle-deny] the lifecycle test denies this Pod (metadata.labels["podguard.test/lifecycle"]). Fix: remove the label`
)

// reloadVerdict names the answers the policy sets of the reload test give the Pod
// without a liveness probe.
func reloadVerdict(a answer) (string, error) {
	r := a.Response
	switch {
	case r.Allowed && r.Status.Code == 200 && len(r.Warnings) == 1 && r.Warnings[0] == livenessLine:
		return "liveness warns", nil
	case !r.Allowed && r.Status.Code == 403 && r.Status.Message == livenessLine && len(r.Warnings) == 0:
		return "liveness denies", nil
	case !r.Allowed && r.Status.Code == 403 && len(r.Warnings) == 0 &&
		(r.Status.Message == customLine+"\n"+livenessLine || r.Status.Message == livenessLine+"\n"+customLine):
		return "custom rule and liveness deny", nil
	}
	return "", fmt.Errorf("unexpected answer: allowed=%v code=%d %q warnings %q", r.Allowed, r.Status.Code, r.Status.Message, r.Warnings)
}

// TestPolicyReloadUnderLoad: configuration and policy changes, written as the kubelet
// updates a ConfigMap volume, are swapped in while reviews flow; broken ones are refused
// and the set being served stays. Every review is answered by one set or the next, each
// caller never sees an older set again, and none fails.
func TestPolicyReloadUnderLoad(t *testing.T) {
	ca := newCA(t)
	certs := newVolume(t, serving(t, ca, 2))
	warn := []byte("rules:\n  liveness-probe: {enforcement: warn}\n")
	config := newVolume(t, map[string][]byte{"config.yaml": warn})
	policies := newVolume(t, map[string][]byte{})
	p := startPodguard(t, certs.dir, "--shutdown-delay", "0s", "--reload-interval", "200ms",
		"--config", config.path("config.yaml"), "--policy-dir", policies.dir)
	l := startLoad(t, loadSpec{
		url: p.url, pool: ca.Pool, workers: workers,
		body:    func(uid string) []byte { return podReview(uid, "livenessProbe") },
		verdict: reloadVerdict,
		phases:  []string{"liveness warns", "liveness denies", "custom rule and liveness deny"},
	})
	waitUntil(t, 5*time.Second, "first answers", func() bool { return l.seen("liveness warns") > 0 })

	refusedBefore := func() float64 { return p.metric(t, `podguard_policy_reloads_total{result="error"}`) }
	steps := []struct {
		desc    string
		change  func()
		verdict string // the verdict served once the change is picked up
		refused bool
	}{
		{"config: liveness-probe warn -> deny", func() {
			config.update(t, map[string][]byte{"config.yaml": []byte("rules:\n  liveness-probe: {enforcement: deny}\n")})
		}, "liveness denies", false},
		{"config: an enforcement that does not exist (refused)", func() {
			config.update(t, map[string][]byte{"config.yaml": []byte("rules:\n  liveness-probe: {enforcement: maybe}\n")})
		}, "liveness denies", true},
		{"config: fixed; policy dir: a custom rule added", func() {
			config.update(t, map[string][]byte{"config.yaml": []byte("rules:\n  liveness-probe: {enforcement: deny}\n")})
			policies.update(t, map[string][]byte{"lifecycle_deny.rego": []byte(lifecycleRule)})
		}, "custom rule and liveness deny", false},
		{"policy dir: the custom rule with a syntax error (refused)", func() {
			policies.update(t, map[string][]byte{"lifecycle_deny.rego": []byte("package pod.rules.lifecycle_deny\n\nviolation contains v if {\n")})
		}, "custom rule and liveness deny", true},
	}
	for _, s := range steps {
		before := l.sent.Load()
		refused := refusedBefore()
		s.change()
		var took time.Duration
		if s.refused {
			took = waitUntil(t, 15*time.Second, s.desc+": refusal counted", func() bool { return refusedBefore() > refused })
		} else {
			seen := l.seen(s.verdict)
			took = waitUntil(t, 15*time.Second, s.desc+": "+s.verdict, func() bool { return l.seen(s.verdict) > seen || l.failed.Load() > 0 })
		}
		// Reviews keep being judged on the set now served.
		served := l.sent.Load()
		waitUntil(t, 5*time.Second, s.desc+": reviews after it", func() bool {
			return l.sent.Load() > served+2*workers || l.failed.Load() > 0
		})
		if code := p.readyz(); code != http.StatusOK {
			t.Errorf("%s: /readyz %d, want 200", s.desc, code)
		}
		t.Logf("%s: picked up after %v; %d reviews from the change on", s.desc, took.Round(time.Millisecond), l.sent.Load()-before)
	}
	l.check(t)
	if n := l.seen("custom rule and liveness deny"); n == 0 {
		t.Error("the last set was never served")
	}
}
