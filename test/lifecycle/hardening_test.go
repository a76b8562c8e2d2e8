package lifecycle

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	benchload "github.com/podguard/podguard/test/bench/load"
)

// bigPodReview is a CREATE review of a compliant Pod whose container asks for 9Gi of
// memory: allowed by the built-in defaults, denied under `max: {memory: 8Gi}`.
func bigPodReview(uid string) []byte {
	return []byte(strings.Replace(string(podReview(uid, "")),
		`"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}`,
		`"requests": {"cpu": "100m", "memory": "9Gi"}, "limits": {"cpu": "500m", "memory": "9Gi"}`, 1))
}

const maxLine = `[resources-limits] container "app": memory limit "9Gi" is above the maximum "8Gi" (spec.containers[0].resources.limits.memory). Fix: lower resources.limits.memory to at most "8Gi"`

// TestConfigRewrittenInPlace: a configuration file truncated and written again once
// podguard has read it empty, as an editor or `cp` does it, is never served half-written:
// in between, the configuration loaded before stays (the empty file is a refused change),
// and no review is let through under the built-in defaults.
func TestConfigRewrittenInPlace(t *testing.T) {
	ca := newCA(t)
	certs := newVolume(t, serving(t, ca, 2))
	config := t.TempDir() + "/config.yaml"
	content := []byte("rules:\n  resources-limits: {enforcement: deny, resources: [cpu, memory], max: {memory: 8Gi}}\n")
	if err := os.WriteFile(config, content, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPodguard(t, certs.dir, "--shutdown-delay", "0s", "--reload-interval", "500ms", "--config", config)
	if !strings.Contains(string(bigPodReview("x")), `"memory": "9Gi"`) {
		t.Fatal("the review has no 9Gi limit")
	}
	l := startLoad(t, loadSpec{
		url: p.url, pool: ca.Pool, workers: workers,
		body: bigPodReview,
		verdict: func(a answer) (string, error) {
			r := a.Response
			if r.Allowed || r.Status.Code != http.StatusForbidden || r.Status.Message != maxLine {
				return "", fmt.Errorf("not the denial of the 9Gi limit: allowed=%v code=%d %q", r.Allowed, r.Status.Code, r.Status.Message)
			}
			return "deny", nil
		},
	})
	waitUntil(t, 5*time.Second, "first answers", func() bool { return l.seen("deny") > 0 })
	refused := p.metric(t, `podguard_policy_reloads_total{result="error"}`)

	f, err := os.OpenFile(config, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	truncated := l.sent.Load()
	// Rewritten once the empty file has been read (twice, an interval apart) and refused,
	// and reviews have been judged meanwhile.
	waitUntil(t, 5*time.Second, "the empty file refused, and reviews judged meanwhile", func() bool {
		return p.metric(t, `podguard_policy_reloads_total{result="error"}`) > refused && l.sent.Load() > truncated+workers || l.failed.Load() > 0
	})
	loaded := p.metric(t, `podguard_policy_reloads_total{result="success"}`)
	if _, err := f.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	rewritten := l.sent.Load()
	// Reviews keep being judged until the rewritten file has been read twice and loaded.
	waitUntil(t, 5*time.Second, "the rewritten file loaded, and reviews judged meanwhile", func() bool {
		return p.metric(t, `podguard_policy_reloads_total{result="success"}`) > loaded && l.sent.Load() > rewritten+workers || l.failed.Load() > 0
	})
	l.check(t)
	t.Logf("%d reviews while the file was empty", rewritten-truncated)
	if rewritten == truncated {
		t.Error("no review was sent while the file was empty")
	}
	if got := p.metric(t, `podguard_policy_reloads_total{result="error"}`); got <= refused {
		t.Errorf("podguard_policy_reloads_total{result=\"error\"} = %v, want the empty file counted as a refused change (was %v)", got, refused)
	}
	if !strings.Contains(p.log(), "is empty: a file being rewritten looks like this") {
		t.Error("the empty file's refusal was not logged")
	}
	if code := p.readyz(); code != http.StatusOK {
		t.Errorf("/readyz %d, want 200: the configuration loaded before is still served", code)
	}
}

// vmHWM is the peak resident set size of a process, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	hwm, err := benchload.ProcStatus(pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	return hwm
}

// TestHeaderOnlyClients: three rounds of 100 TLS clients that each declare a 7,000,000
// byte body and send 5 bytes of it cost podguard little memory (its buffers grow with
// what arrives), and a good review sent during each round is answered as usual.
func TestHeaderOnlyClients(t *testing.T) {
	const (
		rounds  = 3
		clients = 100
		maxRSS  = 160 << 20
	)
	ca := newCA(t)
	certs := newVolume(t, serving(t, ca, 2))
	p := startPodguard(t, certs.dir, "--shutdown-delay", "0s")
	addr := strings.TrimPrefix(p.url, "https://")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	defer client.CloseIdleConnections()
	t.Logf("peak RSS after start-up: %d MiB", vmHWM(t, p.cmd.Process.Pid)>>20)

	for round := range rounds {
		conns := make([]*tls.Conn, clients)
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool})
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
				if _, err := fmt.Fprintf(c, "POST /validate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 7000000\r\n\r\n{\"a\":", addr); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		// The good review, while the 100 hold their requests open.
		verdict, err := post(client, p.url+"/validate", podReview(fmt.Sprintf("good-%d", round), ""), fmt.Sprintf("good-%d", round), allowed)
		if err != nil || verdict != "allow" {
			t.Errorf("round %d: good review: %q, %v", round, verdict, err)
		}
		// Measured once every client's request is in its handler, its body being read.
		waitUntil(t, 5*time.Second, fmt.Sprintf("round %d: the %d requests in their handler", round, clients), func() bool {
			return p.metric(t, `podguard_webhook_requests_in_flight{webhook="validate"}`) >= clients
		})
		for _, c := range conns {
			// The clients give up; had they waited, podguard would have answered each
			// with a 400 at its read timeout.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			_, _ = bufio.NewReader(c).ReadByte()
			c.Close()
		}
		t.Logf("round %d: peak RSS %d MiB", round+1, vmHWM(t, p.cmd.Process.Pid)>>20)
	}
	if peak := vmHWM(t, p.cmd.Process.Pid); peak > maxRSS {
		t.Errorf("peak RSS %d MiB, want at most %d MiB", peak>>20, maxRSS>>20)
	}
}
