// Command churn is the connection-starvation load test: it starts podguard, measures
// reviews sent each on a new connection (as the API server sends them after an idle
// period), then opens -conns plain TCP connections from another loopback address that
// never start a TLS handshake, each closed and opened again every -hold, and measures
// new-connection reviews again while they churn. It prints the p99 of both and their
// ratio, and exits 1 when a review fails or the p99 under churn is -target or more (the
// chart's timeoutSeconds is 5 s).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podguard/podguard/test/bench/load"
)

func main() {
	podguardBin, bodiesDir := load.Flags()
	var (
		conns    = flag.Int("conns", 1200, "churning connections")
		hold     = flag.Duration("hold", 5*time.Second, "how long each churning connection is kept before it is opened again")
		atOnce   = flag.Bool("reopen-at-once", false, "open a churning connection again as soon as podguard closes it, not at the end of its hold")
		spread   = flag.Bool("spread", false, "spread the churning connections' first dials over one hold period, instead of opening them all at once")
		duration = flag.Duration("duration", 20*time.Second, "measured time, without and with churn each")
		callers  = flag.Int("callers", 4, "concurrent reviewers, each review on a new connection")
		from     = flag.String("churn-from", "127.0.0.2", "loopback address the churning connections come from (the reviews come from 127.0.0.1)")
		target   = flag.Duration("target", time.Second, "p99 of new-connection reviews under churn must stay below this")
		extra    = flag.String("podguard-args", "", "extra serve flags, space-separated")
	)
	flag.Parse()
	load.Main("churn", func(ctx context.Context) (bool, error) {
		return run(ctx, *podguardBin, *bodiesDir, *conns, *hold, *spread, *atOnce, *duration, *callers, *from, *target, *extra)
	})
}

func run(ctx context.Context, bin, bodiesDir string, conns int, hold time.Duration, spread, atOnce bool, duration time.Duration, callers int, from string, target time.Duration, extra string) (bool, error) {
	dir, remove, err := load.WorkDir("", "podguard-churn-")
	if err != nil {
		return false, err
	}
	defer remove()
	// The chart's memory limit, so the connection bound is the chart's (1,024).
	srv, err := load.StartPodguard(load.PodguardOptions{Bin: bin, Dir: dir, Env: []string{"GOMEMLIMIT=512MiB"}, Args: strings.Fields(extra)})
	if err != nil {
		return false, err
	}
	defer srv.Stop()
	body, err := load.ReadBody(bodiesDir, "pod-compliant.json", true)
	if err != nil {
		return false, err
	}
	caPEM, addr := srv.CAPEM, srv.Addr
	ready, err := load.NewClient(srv.URL, caPEM, 1)
	if err != nil {
		return false, err
	}
	if err := srv.WaitReady(ctx, ready, body, 2*time.Minute); err != nil {
		return false, err
	}
	ready.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)

	quiet := measure(ctx, srv.URL, pool, body, callers, duration)
	fmt.Printf("without churn: %s\n", newConns(quiet))

	churnCtx, stopChurn := context.WithCancel(ctx)
	ch := churn(churnCtx, addr, from, conns, hold, spread, atOnce)
	// One hold period, for the churning connections to take every slot.
	select {
	case <-time.After(hold):
	case <-ctx.Done():
		stopChurn()
		return false, ctx.Err()
	}
	busy := measure(ctx, srv.URL, pool, body, callers, duration)
	stopChurn()
	st := ch.wait()
	fmt.Printf("with %d connections churning every %s: %s\n", conns, hold, newConns(busy))
	fmt.Printf("churning connections: %d opened, %d closed by podguard before their %s were up, %d dials failed\n",
		st.opened, st.closedEarly, hold, st.dialErrors)
	busyP99, quietP99 := busy.Quantile(0.99), quiet.Quantile(0.99)
	ratio := float64(busyP99) / float64(max(quietP99, time.Microsecond))
	fmt.Printf("p99 of a new-connection review: %s under churn, %s without (%.1fx); target under churn < %s\n",
		busyP99.Round(time.Millisecond), quietP99.Round(time.Millisecond), ratio, target)
	ok := quiet.Failed == 0 && busy.Failed == 0 && busyP99 < target
	if !ok {
		fmt.Println("FAIL")
	} else {
		fmt.Println("PASS")
	}
	return ok, nil
}

// newConns says what one measurement of reviews on new connections saw.
func newConns(r load.Latencies) string {
	s := fmt.Sprintf("%d reviews on new connections, p50 %s, p99 %s, max %s, %d failed",
		len(r.Times), r.Quantile(0.5).Round(time.Millisecond), r.Quantile(0.99).Round(time.Millisecond), r.Max().Round(time.Millisecond), r.Failed)
	if r.FirstError != "" {
		s += " (first: " + r.FirstError + ")"
	}
	return s
}

// measure sends reviews from callers workers for d, each on a connection of its own,
// and times each from the dial to the end of the answer. A review not answered within
// 10 s counts as failed, at 10 s.
func measure(ctx context.Context, url string, pool *x509.CertPool, body *load.Body, callers int, d time.Duration) load.Latencies {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
		TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
		DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).DialContext,
	}
	defer tr.CloseIdleConnections()
	c := load.NewClientWith(url, tr, 10*time.Second)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var r load.Latencies
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			var buf bytes.Buffer
			for ctx.Err() == nil {
				t0 := time.Now()
				err := c.Do(context.WithoutCancel(ctx), body, &buf)
				took := time.Since(t0)
				mu.Lock()
				r.Times = append(r.Times, took)
				if err != nil {
					r.Fail(err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.Sort()
	return r
}

type churnStats struct {
	opened, closedEarly, dialErrors int64
}

type churner struct {
	wg sync.WaitGroup
	st struct{ opened, closedEarly, dialErrors atomic.Int64 }
}

func (c *churner) wait() churnStats {
	c.wg.Wait()
	return churnStats{c.st.opened.Load(), c.st.closedEarly.Load(), c.st.dialErrors.Load()}
}

// churn keeps n plain TCP connections from the address from, each held for hold and
// then opened again; they are first opened all at once, or with spread, over the first
// hold period. Nothing is sent on them: no TLS handshake, no request. With atOnce, a
// connection podguard closes is opened again at once.
func churn(ctx context.Context, addr, from string, n int, hold time.Duration, spread, atOnce bool) *churner {
	c := &churner{}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: hold}
	for i := range n {
		c.wg.Go(func() {
			if spread {
				select {
				case <-time.After(time.Duration(i) * hold / time.Duration(n)):
				case <-ctx.Done():
					return
				}
			}
			for ctx.Err() == nil {
				until := time.Now().Add(hold)
				conn, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					if ctx.Err() == nil {
						c.st.dialErrors.Add(1)
					}
				} else {
					c.st.opened.Add(1)
					// A read ends when podguard closes the connection, or at the hold.
					_ = conn.SetReadDeadline(until)
					_, err := conn.Read(make([]byte, 1))
					if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
						c.st.closedEarly.Add(1)
						if atOnce {
							until = time.Now()
						}
					}
					conn.Close()
				}
				select {
				case <-time.After(time.Until(until)):
				case <-ctx.Done():
				}
			}
		})
	}
	return c
}
