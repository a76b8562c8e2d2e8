// Command drain is the shutdown load test: -runs times, it starts podguard, sends
// reviews from -clients concurrent callers over keep-alive connections (as the API server
// does), sends SIGTERM, and keeps sending until the process has exited. Each review ends
// one of three ways:
//
//	answered  an AdmissionReview answer with the expected verdict
//	not sent  the connection was refused or closed before the request was written
//	          (after the listener closed, or still in the kernel's accept queue); the
//	          Service routes the caller's next call to a ready replica
//	lost      the request was written on an open connection and got no answer
//
// It prints the counts of every run and exits 1 when any review was lost or answered
// wrongly.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podguard/podguard/test/bench/load"
)

func main() {
	podguardBin, bodiesDir := load.Flags()
	var (
		runs    = flag.Int("runs", 10, "SIGTERM runs")
		clients = flag.Int("clients", 36, "concurrent callers")
		before  = flag.Duration("before", 2*time.Second, "load before SIGTERM")
		delay   = flag.Duration("shutdown-delay", 3*time.Second, "podguard's --shutdown-delay")
	)
	flag.Parse()
	load.Main("drain", func(ctx context.Context) (bool, error) {
		var total counts
		for i := 1; i <= *runs && ctx.Err() == nil; i++ {
			c, err := run(ctx, *podguardBin, *bodiesDir, *clients, *before, *delay)
			if err != nil {
				return false, fmt.Errorf("run %d: %w", i, err)
			}
			fmt.Printf("run %2d: %s\n", i, c)
			total.add(c)
		}
		fmt.Printf("total:  %s\n", &total)
		if total.lost.Load() > 0 || total.wrong.Load() > 0 {
			fmt.Println("FAIL: reviews lost or answered wrongly")
			return false, nil
		}
		fmt.Println("PASS: no review lost")
		return true, nil
	})
}

type counts struct {
	answered, notSent, lost, wrong atomic.Int64
	firstLost, firstWrong          atomic.Pointer[string]
}

func (c *counts) add(o *counts) {
	c.answered.Add(o.answered.Load())
	c.notSent.Add(o.notSent.Load())
	c.lost.Add(o.lost.Load())
	c.wrong.Add(o.wrong.Load())
	c.firstLost.CompareAndSwap(nil, o.firstLost.Load())
	c.firstWrong.CompareAndSwap(nil, o.firstWrong.Load())
}

func (c *counts) String() string {
	s := fmt.Sprintf("%6d answered, %4d not sent, %3d lost, %d answered wrongly",
		c.answered.Load(), c.notSent.Load(), c.lost.Load(), c.wrong.Load())
	if p := c.firstLost.Load(); p != nil {
		s += "; first lost: " + *p
	}
	if p := c.firstWrong.Load(); p != nil {
		s += "; first wrong: " + *p
	}
	return s
}

func run(ctx context.Context, bin, bodiesDir string, clients int, before, delay time.Duration) (*counts, error) {
	dir, remove, err := load.WorkDir("", "podguard-drain-")
	if err != nil {
		return nil, err
	}
	defer remove()
	srv, err := load.StartPodguard(load.PodguardOptions{Bin: bin, Dir: dir, ShutdownDelay: delay})
	if err != nil {
		return nil, err
	}
	body, err := load.ReadBody(bodiesDir, "pod-compliant.json", true)
	if err != nil {
		return nil, err
	}
	url, caPEM := srv.URL, srv.CAPEM
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: clients,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	defer tr.CloseIdleConnections()
	c := load.NewClientWith(url, tr, 30*time.Second)
	if err := srv.WaitReady(ctx, c, body, 2*time.Minute); err != nil {
		_ = srv.Stop()
		return nil, err
	}

	var n counts
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				select {
				case <-done:
					return
				default:
				}
				// written is whether the request of the last attempt was written: the
				// transport may try again on a new connection when nothing was.
				var written, answered atomic.Bool
				trace := &httptrace.ClientTrace{
					GetConn:              func(string) { written.Store(false) },
					WroteRequest:         func(i httptrace.WroteRequestInfo) { written.Store(i.Err == nil) },
					GotFirstResponseByte: func() { answered.Store(true) },
				}
				err := c.Do(httptrace.WithClientTrace(ctx, trace), body, &buf)
				switch {
				case err == nil:
					n.answered.Add(1)
				case answered.Load():
					n.wrong.Add(1)
					msg := err.Error()
					n.firstWrong.CompareAndSwap(nil, &msg)
				case written.Load():
					n.lost.Add(1)
					msg := err.Error()
					n.firstLost.CompareAndSwap(nil, &msg)
				default:
					n.notSent.Add(1)
					// A refused connection is answered at once: do not spin on it.
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	time.Sleep(before)
	stopErr := srv.Stop()
	close(done)
	wg.Wait()
	if stopErr != nil {
		return nil, fmt.Errorf("podguard's exit: %v\n%s", stopErr, srv.LogTail(2000))
	}
	return &n, nil
}
