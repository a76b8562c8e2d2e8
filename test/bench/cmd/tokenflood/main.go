// Command tokenflood checks that made-up tokens on the metrics port cannot slow the real
// scraper down (make bench-tokens). It starts a real kube-apiserver and etcd (test/cluster),
// gives podguard the chart's ServiceAccount and ClusterRole, and runs the podguard binary
// with --metrics-secure. A scraper with a token bound to the chart's metrics-reader role
// scrapes /metrics every 250 ms, first alone (the baseline), then while 16 clients, each
// from its own loopback address, send a new made-up token with every request, back to
// back. The flood lasts past the minute for which podguard keeps the scraper's decision,
// so the scraper's token is checked again during it. It reports the scrapes' latency
// alone and in the flood, how the flood was answered and how many TokenReviews it cost
// the API server, and exits 1 when a scrape failed or one took 100 ms or more in the
// flood.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podguard/podguard/test/bench/load"
	"github.com/podguard/podguard/test/chart"
	"github.com/podguard/podguard/test/cluster"
	"github.com/podguard/podguard/test/harness"
)

const (
	namespace = "podguard-system"
	release   = "podguard"
	// target bounds every scrape's latency in the flood.
	target = 100 * time.Millisecond
)

func main() {
	var (
		podguardBin = flag.String("podguard", "bin/podguard", "podguard binary")
		clients     = flag.Int("clients", 16, "clients sending made-up tokens, each from its own loopback address")
		duration    = flag.Duration("duration", 75*time.Second, "how long the flood lasts; past a minute, the scraper's kept decision expires during it")
		baseline    = flag.Duration("baseline", 5*time.Second, "how long the scraper is measured alone first")
		every       = flag.Duration("scrape-every", 250*time.Millisecond, "the scraper's interval")
		workDir     = flag.String("work-dir", "", "directory for the cluster, certificates and logs (default: a temporary one)")
	)
	flag.Parse()
	load.Main("tokenflood", func(ctx context.Context) (bool, error) {
		return run(ctx, *podguardBin, *clients, *duration, *baseline, *every, *workDir)
	})
}

func run(ctx context.Context, bin string, clients int, duration, baseline, every time.Duration, dir string) (bool, error) {
	dir, remove, err := load.WorkDir(dir, "podguard-tokenflood-")
	if err != nil {
		return false, err
	}
	defer remove()
	c, err := cluster.StartProcess(ctx, filepath.Join(dir, "cluster"), os.Stderr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	if err := applyChartIdentity(ctx, c); err != nil {
		return false, err
	}
	scraperToken, err := harness.ServiceAccountToken(ctx, c.Clientset, namespace, "prometheus")
	if err != nil {
		return false, err
	}
	kubeconfig := filepath.Join(dir, "podguard.kubeconfig")
	if err := harness.WriteServiceAccountKubeconfig(ctx, c.RestConfig(), namespace, release, kubeconfig); err != nil {
		return false, err
	}
	pg, err := harness.Start(ctx, harness.Options{Binary: bin, Dir: dir, Kubeconfig: kubeconfig, Args: []string{"--metrics-secure"}})
	if err != nil {
		return false, err
	}
	defer pg.Stop()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pg.CABundle)
	url := pg.MetricsURL + "/metrics"

	scraper := newClient(pool, nil)
	if code, err := get(ctx, scraper, url, scraperToken); err != nil || code != http.StatusOK {
		return false, fmt.Errorf("first scrape: HTTP %d, %v\n%s", code, err, pg.LogTail())
	}
	checked := time.Now() // podguard keeps the scraper's decision for a minute from here

	bctx, cancel := context.WithTimeout(ctx, baseline)
	alone := scrape(bctx, scraper, url, scraperToken, every)
	cancel()

	before, err := harness.TokenReviews(ctx, c.Clientset)
	if err != nil {
		return false, err
	}
	fctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var wg sync.WaitGroup
	answers := make([]map[string]int, clients)
	for i := range clients {
		source := net.IPv4(127, 0, 0, byte(11+i))
		wg.Go(func() { answers[i] = flood(fctx, newClient(pool, source), url) })
	}
	flooded := scrape(fctx, scraper, url, scraperToken, every)
	wg.Wait()
	after, err := harness.TokenReviews(ctx, c.Clientset)
	if err != nil {
		return false, err
	}

	total := map[string]int{}
	sent := 0
	for _, a := range answers {
		for k, n := range a {
			total[k] += n
			sent += n
		}
	}
	fmt.Printf("flood: %d clients, each from its own address, a new made-up token per request, for %s\n", clients, duration)
	fmt.Printf("  %d requests (%.0f/s), %.0f TokenReviews (%.1f/s)\n", sent, float64(sent)/duration.Seconds(), after-before, (after-before)/duration.Seconds())
	keys := make([]string, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %7d  %s\n", total[k], k)
	}
	fmt.Printf("scrapes with a valid token, alone:    %s\n", alone)
	fmt.Printf("scrapes with a valid token, in flood: %s\n", flooded)
	if expiry := checked.Add(time.Minute); time.Now().After(expiry) {
		fmt.Printf("  the scraper's decision expired %.0f s into the flood: its slowest scrape after that took %s\n",
			expiry.Sub(flooded.start).Seconds(), flooded.slowestAfter(expiry).Round(100*time.Microsecond))
	}
	if p := alone.Quantile(0.99); p > 0 {
		fmt.Printf("p99 in the flood against alone: %.1fx\n", float64(flooded.Quantile(0.99))/float64(p))
	}
	ok := true
	if flooded.Failed > 0 || len(flooded.latencies) == 0 {
		fmt.Printf("FAIL: %d scrapes with a valid token failed; first: %s\n", flooded.Failed, flooded.FirstError)
		ok = false
	}
	if slowest := flooded.Quantile(1); slowest >= target {
		fmt.Printf("FAIL: the slowest scrape in the flood took %s, not under %s\n", slowest.Round(100*time.Microsecond), target)
		ok = false
	}
	if ok {
		fmt.Printf("PASS: every scrape answered within %s in the flood\n", target)
	}
	return ok, nil
}

// applyChartIdentity creates the chart's ServiceAccount, ClusterRoles and bindings, with
// a metrics reader named prometheus, and that ServiceAccount.
func applyChartIdentity(ctx context.Context, c *cluster.Cluster) error {
	if _, err := c.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	rel, err := chart.Render(ctx, chart.Options{ReleaseName: release, Namespace: namespace, Values: map[string]any{
		"metrics": map[string]any{"readers": []any{map[string]any{"kind": "ServiceAccount", "name": "prometheus"}}},
	}})
	if err != nil {
		return err
	}
	for _, o := range rel.Objects {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding":
			if err := c.Client.Create(ctx, o.Unstructured.DeepCopy()); err != nil {
				return fmt.Errorf("create %s %s: %w", o.GetKind(), o.GetName(), err)
			}
		}
	}
	_, err = c.Clientset.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"}}, metav1.CreateOptions{})
	return err
}

// newClient keeps one connection, from source when it is not nil.
func newClient(pool *x509.CertPool, source net.IP) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if source != nil {
		d.LocalAddr = &net.TCPAddr{IP: source}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}, MaxConnsPerHost: 1,
	}}
}

func get(ctx context.Context, hc *http.Client, url, bearer string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// flood sends a new made-up token with every request until ctx ends, and counts the
// answers by status.
func flood(ctx context.Context, hc *http.Client, url string) map[string]int {
	defer hc.CloseIdleConnections()
	out := map[string]int{}
	b := make([]byte, 16)
	for ctx.Err() == nil {
		_, _ = rand.Read(b)
		code, err := get(ctx, hc, url, "made-up-"+hex.EncodeToString(b))
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil:
			out["error: "+err.Error()]++
		default:
			out[fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))]++
		}
	}
	return out
}

// results are the scrapes' latencies, with when each answered one was sent.
type results struct {
	load.Latencies
	start     time.Time
	at        []time.Time     // when each answered scrape was sent
	latencies []time.Duration // in the order of at
}

func (r results) slowestAfter(t time.Time) time.Duration {
	var d time.Duration
	for i, at := range r.at {
		if at.After(t) {
			d = max(d, r.latencies[i])
		}
	}
	return d
}

func (r results) String() string { return r.Summary("answered 200") }

// scrape gets url every interval until ctx ends.
func scrape(ctx context.Context, hc *http.Client, url, bearer string, every time.Duration) results {
	r := results{start: time.Now()}
	for ctx.Err() == nil {
		start := time.Now()
		// A scrape's own deadline, not the run's: one sent near the end is still answered.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		code, err := get(sctx, hc, url, bearer)
		cancel()
		switch {
		case err != nil:
			err = fmt.Errorf("scrape: %w", err)
		case code != http.StatusOK:
			err = fmt.Errorf("scrape: HTTP %d", code)
		}
		if err != nil {
			r.Fail(err)
		} else {
			r.at = append(r.at, start)
			r.latencies = append(r.latencies, time.Since(start))
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
	r.Times = slices.Sorted(slices.Values(r.latencies))
	return r
}
