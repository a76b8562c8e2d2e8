package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podguard/podguard/policies/engine"
)

// Run serves the webhook until ctx is cancelled, then stays up for the shutdown delay
// with readiness false, and drains.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := logf.FromContext(ctx)
	minTLS, _ := o.tlsVersion()

	var policies PolicySet
	rl := &reloader{
		opts: engine.Options{PolicyDir: o.PolicyDir, ConfigFile: o.ConfigFile, RunTests: true},
		set:  &policies,
		log:  log,
	}
	// A broken policy set at start-up does not stop the process: it stays up, not ready,
	// answering every review with an error, until the files are fixed.
	rl.load(ctx)

	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{
		Port:    o.Port,
		CertDir: o.CertDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.MinVersion = minTLS
			// HTTP/2 stays off: its stream multiplexing has had denial-of-service bugs
			// (rapid reset), and the API server speaks HTTP/1.1 to webhooks anyway.
			c.NextProtos = []string{"http/1.1"}
		}},
	})
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	validator := &Validator{Policies: &policies, EvalTimeout: o.EvalTimeout}
	var cluster *clusterCache
	if o.WatchCluster {
		cfg, err := restConfig(o.Kubeconfig)
		if err != nil {
			return fmt.Errorf("--watch-cluster needs a cluster (use --watch-cluster=false without one): %w", err)
		}
		if cluster, err = startClusterCache(serveCtx, cfg); err != nil {
			return err
		}
		validator.Cluster = cluster
	}
	srv.Register("/validate", &admission.Webhook{Handler: validator})
	srv.Register("/mutate", &admission.Webhook{Handler: &Mutator{Policies: &policies, EvalTimeout: o.EvalTimeout}})

	var stopping atomic.Bool
	ready := &readiness{revision: rl.revision, checks: []namedCheck{
		{"policies", func() error {
			if policies.Get() == nil {
				return errNoPolicies
			}
			return nil
		}},
		{"webhook-server", func() error { return srv.StartedChecker()(nil) }},
		{"shutdown", func() error {
			if stopping.Load() {
				return errors.New("shutting down")
			}
			return nil
		}},
	}}
	if cluster != nil {
		ready.checks = append(ready.checks, namedCheck{"cluster-cache", cluster.ready})
	}
	healthMux := http.NewServeMux()
	healthMux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	healthMux.Handle("/readyz", ready)
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))

	every := o.ReloadInterval
	if every == 0 {
		every = 2 * time.Second
	}
	go rl.run(serveCtx, every, o.CertDir)
	errs := make(chan error, 2)
	webhookDone := make(chan error, 1)
	go func() { webhookDone <- srv.Start(serveCtx) }()
	for _, s := range []struct {
		addr, name string
		h          http.Handler
	}{
		{o.HealthAddr, "health", healthMux}, {o.MetricsAddr, "metrics", metricsMux},
	} {
		hs, err := listenPlain(serveCtx, s.addr, s.h)
		if err != nil {
			return fmt.Errorf("%s server: %w", s.name, err)
		}
		go func() { errs <- hs() }()
	}

	select {
	case err := <-errs:
		return err
	case err := <-webhookDone:
		return fmt.Errorf("webhook server: %w", err)
	case <-ctx.Done():
	}
	// Readiness goes false first so the endpoints controller stops routing new calls
	// here; calls that still arrive during the delay are served.
	stopping.Store(true)
	log.Info("shutting down", "delay", o.ShutdownDelay)
	select {
	case <-time.After(o.ShutdownDelay):
	case err := <-errs:
		return err
	case err := <-webhookDone:
		return fmt.Errorf("webhook server: %w", err)
	}
	stopServing()
	// Start returns once in-flight requests have been answered.
	return <-webhookDone
}

// listenPlain binds addr now (so a taken port fails start-up) and returns the serve loop.
func listenPlain(ctx context.Context, addr string, h http.Handler) (func() error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	return func() error {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, nil
}
