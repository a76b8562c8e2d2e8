// Package load drives AdmissionReview traffic at a webhook the way the API server does:
// HTTPS POSTs over keep-alive HTTP/1.1 connections from N concurrent callers. It measures
// throughput and latency on the client side and memory on the server's side (/proc).
package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Body is one request body and what a correct answer contains.
type Body struct {
	Name string
	Data []byte
	// Allowed is the verdict podguard (and the OPA baseline) must give; nil means any
	// verdict is accepted (the no-op baseline allows everything).
	Allowed *bool
}

// Client posts AdmissionReviews to one webhook URL.
type Client struct {
	URL string
	hc  *http.Client
}

// NewClient makes a client that trusts caPEM and keeps up to conns connections open.
func NewClient(url string, caPEM []byte, conns int) (*Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate in PEM")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// HTTP/1.1 with keep-alive, as kube-apiserver talks to webhooks.
		ForceAttemptHTTP2: false,
		TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	return &Client{URL: url, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

var (
	allowedTrue  = []byte(`"allowed":true`)
	allowedFalse = []byte(`"allowed":false`)
)

// Do sends one review and checks the answer: HTTP 200, an AdmissionReview response with
// the expected verdict.
func (c *Client) Do(ctx context.Context, b *Body, buf *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(b.Data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	buf.Reset()
	_, err = io.Copy(buf, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, buf.Bytes())
	}
	out := buf.Bytes()
	switch {
	case b.Allowed == nil:
		if !bytes.Contains(out, allowedTrue) && !bytes.Contains(out, allowedFalse) {
			return fmt.Errorf("not an AdmissionReview response: %.200s", out)
		}
	case *b.Allowed && !bytes.Contains(out, allowedTrue):
		return fmt.Errorf("want allowed, got: %.300s", out)
	case !*b.Allowed && !bytes.Contains(out, allowedFalse):
		return fmt.Errorf("want denied, got: %.300s", out)
	}
	return nil
}

// Result is what one run measured.
type Result struct {
	Requests   int
	Errors     int
	FirstError string
	Elapsed    time.Duration
	Latencies  []time.Duration // sorted
}

// Throughput is answered requests (errors included) per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Quantile returns the latency at q (0..1).
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.Latencies))+0.5) - 1
	i = max(0, min(i, len(r.Latencies)-1))
	return r.Latencies[i]
}

// Max is the slowest request.
func (r Result) Max() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[len(r.Latencies)-1]
}

// Options bound one run.
type Options struct {
	Concurrency int
	// Warmup is run first and not measured: connections open, caches fill.
	Warmup time.Duration
	// Duration bounds the measured part; Requests (when > 0) ends it earlier.
	Duration time.Duration
	Requests int
	// Pick chooses the body of the i-th request of a worker; nil means Bodies[0].
	Bodies []*Body
	Pick   func(worker, i int) *Body
	// OnRequest, if set, is called after every measured request (from the workers).
	OnRequest func(n int64)
}

// Run sends requests from Concurrency workers until the duration or request budget is
// used up, and gathers latencies.
func Run(ctx context.Context, c *Client, o Options) Result {
	pick := o.Pick
	if pick == nil {
		pick = func(int, int) *Body { return o.Bodies[0] }
	}
	if o.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.Warmup)
		runWorkers(wctx, c, o.Concurrency, 0, pick, nil, nil)
		cancel()
	}
	mctx := ctx
	var cancel context.CancelFunc = func() {}
	if o.Duration > 0 {
		mctx, cancel = context.WithTimeout(ctx, o.Duration)
	}
	defer cancel()
	start := time.Now()
	var res Result
	var mu sync.Mutex
	runWorkers(mctx, c, o.Concurrency, int64(o.Requests), pick, o.OnRequest, func(lat []time.Duration, errs int, first string) {
		mu.Lock()
		defer mu.Unlock()
		res.Latencies = append(res.Latencies, lat...)
		res.Errors += errs
		if res.FirstError == "" {
			res.FirstError = first
		}
	})
	res.Elapsed = time.Since(start)
	res.Requests = len(res.Latencies)
	slices.Sort(res.Latencies)
	return res
}

func runWorkers(ctx context.Context, c *Client, n int, budget int64, pick func(int, int) *Body, onRequest func(int64), done func([]time.Duration, int, string)) {
	var wg sync.WaitGroup
	var sent atomic.Int64
	for w := range n {
		wg.Go(func() {
			var buf bytes.Buffer
			lat := make([]time.Duration, 0, 4096)
			errs := 0
			first := ""
			for i := 0; ctx.Err() == nil; i++ {
				k := sent.Add(1)
				if budget > 0 && k > budget {
					break
				}
				t0 := time.Now()
				err := c.Do(ctx, pick(w, i), &buf)
				d := time.Since(t0)
				if err != nil && ctx.Err() != nil {
					break // cut off by the deadline: not the server's error
				}
				lat = append(lat, d)
				if err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
				}
				if onRequest != nil {
					onRequest(k)
				}
			}
			if done != nil {
				done(lat, errs, first)
			}
		})
	}
	wg.Wait()
}
