package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/podguard/podguard/policies/engine"
)

// Run serves the webhook until ctx is cancelled, then shuts down (server.shutdown).
// Errors the operator fixes on the command line are *OptionError.
func Run(ctx context.Context, o Options) error {
	s, err := newServer(ctx, o)
	if err != nil {
		return err
	}
	return s.run(ctx)
}

// server is `podguard serve`: three HTTP servers (webhook, health, metrics) in front of
// the policy set, and the background components that keep it current (the reloader, the
// certificate watcher, the cluster cache).
type server struct {
	o   Options
	log logr.Logger
	mem memoryBudgets

	policies PolicySet
	reloader *reloader
	// registration sets the webhooks' failurePolicy once podguard is ready
	// (--webhook-configuration); nil without it.
	registration *registration
	// background is the context of the background components, ended last.
	background     context.Context
	stopBackground context.CancelFunc

	webhook, health, metrics *httpServer
	// stopping is set once shutdown begins: readiness turns false and every answer
	// carries Connection: close.
	stopping, serving atomic.Bool
}

// newServer checks the options, loads what can be loaded and binds the ports, so that a
// bad flag or a taken port fails start-up.
func newServer(ctx context.Context, o Options) (_ *server, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := o.checkPaths(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	s := &server{o: o, log: logf.FromContext(ctx), mem: o.memory()}
	tlsConfig, err := o.tlsConfig()
	if err != nil {
		return nil, &OptionError{Err: err}
	}
	s.reloader = &reloader{
		opts: engine.Options{PolicyDir: o.PolicyDir, ConfigFile: o.ConfigFile, RunTests: true, TestTimeout: o.PolicyTestTimeout, OPAEvaluator: o.Evaluator == "rego"},
		set:  &s.policies,
		log:  s.log,
	}
	// A policy set that does not load at start-up does not stop the process: it stays
	// up, not ready, answering every review with an error, until the files are fixed.
	s.reloader.load(ctx)

	s.background, s.stopBackground = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			s.stopBackground()
			s.closeAll()
		}
	}()
	validator := &Validator{Policies: &s.policies, EvalTimeout: o.EvalTimeout}
	var cluster *clusterCache
	var cfg *rest.Config
	if o.WatchCluster || o.MetricsSecure || o.WebhookConfiguration != "" {
		if cfg, err = restConfig(o.Kubeconfig); err != nil {
			return nil, &OptionError{Err: fmt.Errorf("--watch-cluster and --metrics-secure need a cluster (use --watch-cluster=false and --metrics-secure=false without one): %w", err)}
		}
	}
	if o.WatchCluster {
		if cluster, err = startClusterCache(s.background, cfg); err != nil {
			return nil, err
		}
		validator.Cluster = cluster
	}
	certs, err := watchCertificate(s.background, o.CertDir)
	if err != nil {
		return nil, &OptionError{Err: fmt.Errorf("--cert-dir %s: %w", o.CertDir, err)}
	}
	tlsConfig.GetCertificate = certs.GetCertificate

	// The kubelet's probes must get through whoever else connects: the health port is
	// not bounded.
	ready := s.readiness(cluster)
	if s.health, err = listenHTTP(ctx, "health", o.HealthAddr, healthMux(ready), nil, nil); err != nil {
		return nil, err
	}
	if o.WebhookConfiguration != "" {
		if s.registration, err = newRegistration(o, cfg, ready, certs.GetCertificate, &s.policies, s.log); err != nil {
			return nil, &OptionError{Err: err}
		}
	}
	metrics, err := metricsHandler(cfg, o.MetricsSecure, s.log)
	if err != nil {
		return nil, err
	}
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", metrics)
	var metricsTLS *tls.Config
	if o.MetricsSecure {
		// The webhook's certificate and TLS settings; callers prove who they are with a
		// bearer token, not a client certificate.
		metricsTLS = tlsConfig.Clone()
		metricsTLS.ClientAuth, metricsTLS.ClientCAs = tls.NoClientCert, nil
	}
	// Scrapers keep one connection each.
	scrapers := &connLimits{total: metricsConnections, perSource: metricsConnections}
	if s.metrics, err = listenHTTP(ctx, "metrics", o.MetricsAddr, metricsMux, metricsTLS, scrapers); err != nil {
		return nil, err
	}

	// One gate and one body budget for both hooks: they share the cores and the memory.
	gate := newGate(o.MaxEvaluations, s.mem.evaluations, o.EvalTimeout)
	bodies := newBodyBudget(s.mem.bodies, o.ReadTimeout)
	mutator := &Mutator{Policies: &s.policies, EvalTimeout: o.EvalTimeout}
	webhooks := http.NewServeMux()
	webhooks.Handle("/validate", newHook(webhookValidate, validator.Handle, &s.policies, gate, bodies, s.log))
	webhooks.Handle("/mutate", newHook(webhookMutate, mutator.Handle, &s.policies, gate, bodies, s.log))
	limits := &connLimits{total: o.MaxConnections, perSource: o.MaxConnectionsPerSource}
	s.webhook, err = listenHTTP(ctx, "webhook", net.JoinHostPort(o.BindAddress, strconv.Itoa(o.Port)), s.closeWhileStopping(webhooks), tlsConfig, limits)
	if err != nil {
		return nil, err
	}
	s.webhook.srv.ReadHeaderTimeout = o.ReadHeaderTimeout
	s.webhook.srv.ReadTimeout = o.ReadTimeout
	s.webhook.srv.WriteTimeout = o.writeTimeout()
	s.webhook.srv.IdleTimeout = o.IdleTimeout
	return s, nil
}

// readiness is what /readyz checks, and what must hold before podguard sets its
// webhooks' failurePolicy.
func (s *server) readiness(cluster *clusterCache) *readiness {
	ready := &readiness{revision: s.reloader.revision, checks: []namedCheck{
		{"policies", func() error {
			if s.policies.Get() == nil {
				return errNoPolicies
			}
			return nil
		}},
		{"webhook-server", func() error {
			if !s.serving.Load() {
				return errors.New("not serving yet")
			}
			return nil
		}},
		{"shutdown", func() error {
			if s.stopping.Load() {
				return errors.New("shutting down")
			}
			return nil
		}},
	}}
	if cluster != nil {
		ready.checks = append(ready.checks, namedCheck{"cluster-cache", cluster.ready})
	}
	return ready
}

// healthMux serves /healthz and /readyz.
func healthMux(ready *readiness) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/readyz", ready)
	return mux
}

// run serves until ctx ends or a server fails, then shuts down. Every component runs in
// one errgroup: the first error ends the others, through shutdown.
func (s *server) run(ctx context.Context) error {
	g, failed := errgroup.WithContext(context.WithoutCancel(ctx))
	for _, h := range []*httpServer{s.webhook, s.health, s.metrics} {
		g.Go(h.serve)
	}
	every := s.o.ReloadInterval
	if every == 0 {
		every = 2 * time.Second
	}
	g.Go(func() error {
		s.reloader.run(s.background, every)
		return nil
	})
	if s.registration != nil {
		// In the group, so that shutdown waits for an update it has begun.
		g.Go(func() error {
			s.registration.run(s.background)
			return nil
		})
	}
	s.serving.Store(true)
	s.log.Info("podguard serving", "version", s.o.Version, "commit", buildCommit(), "revision", s.reloader.revision(),
		"webhook", s.webhook.url, "metrics", s.metrics.url, "health", s.health.url,
		"maxConnections", s.o.MaxConnections, "maxConnectionsPerSource", s.o.MaxConnectionsPerSource, "maxEvaluations", s.o.MaxEvaluations,
		"memoryLimit", memoryLimitText(s.mem), "evaluationMemory", mib(s.mem.evaluations), "bodyMemory", mib(s.mem.bodies))
	g.Go(func() error { return s.shutdown(ctx, failed) })
	return g.Wait()
}

// shutdown waits for ctx to end (or a component to fail, failed), then stops podguard in
// this order:
//
//  1. readiness turns false, so the endpoints stop routing new calls here, and every
//     answer carries Connection: close, so callers open their next connection to a ready
//     replica; reviews are served as usual for the shutdown delay (skipped on failure);
//  2. the webhook stops accepting, and every request already read or on the wire on an
//     open connection is answered (httpServer.drain);
//  3. the health and metrics servers close;
//  4. the background components (reloader, certificate watcher, cluster cache) stop.
func (s *server) shutdown(ctx, failed context.Context) error {
	select {
	case <-ctx.Done():
		s.stopping.Store(true)
		s.log.Info("shutting down", "delay", s.o.ShutdownDelay)
		select {
		case <-time.After(s.o.ShutdownDelay):
		case <-failed.Done():
		}
	case <-failed.Done():
		s.stopping.Store(true)
	}
	s.log.Info("draining")
	// A request in flight ends within the write timeout, its own deadline.
	err := s.webhook.drain(s.o.writeTimeout())
	s.health.close()
	s.metrics.close()
	s.stopBackground()
	if err != nil {
		return err
	}
	s.log.Info("drained")
	return nil
}

// closeAll closes the servers bound so far, after a failed start.
func (s *server) closeAll() {
	for _, h := range []*httpServer{s.webhook, s.health, s.metrics} {
		if h != nil {
			h.close()
		}
	}
}

func memoryLimitText(m memoryBudgets) string {
	if !m.limitSet {
		return mib(m.limit) + " (assumed: GOMEMLIMIT is not set)"
	}
	return mib(m.limit) + " (GOMEMLIMIT)"
}

// buildCommit is the VCS revision the binary was built from, "unknown" without one.
func buildCommit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	commit, dirty := "unknown", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && commit != "unknown" {
		commit += "-dirty"
	}
	return commit
}

// metricsHandler serves the registry; with secure, only to callers the API server
// authenticates and authorises for get on /metrics (see metricsAuth).
func metricsHandler(cfg *rest.Config, secure bool, log logr.Logger) (http.Handler, error) {
	h := promhttp.HandlerFor(registry, promhttp.HandlerOpts{})
	if !secure {
		return h, nil
	}
	return newMetricsAuth(cfg, h, log.WithName("metrics"))
}

// watchCertificate loads the serving certificate, then reloads it whenever its files
// change; a pair that does not load (a certificate that does not match the key) leaves
// the one loaded last served. The expiry metric follows the pair being served.
func watchCertificate(ctx context.Context, certDir string) (*certwatcher.CertWatcher, error) {
	certs, err := certwatcher.New(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		return nil, err
	}
	// The watcher calls back on a goroutine of its own per change, in no set order, and
	// the first time with its lock held; so the callback only signals, and the metric is
	// set from the pair being served at that moment.
	changed := make(chan struct{}, 1)
	certs.RegisterCallback(func(tls.Certificate) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	go func() {
		for {
			if c, err := certs.GetCertificate(nil); err == nil && c != nil {
				recordCertExpiry(c)
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}()
	go func() {
		if err := certs.Start(ctx); err != nil {
			logf.FromContext(ctx).Error(err, "certificate watcher stopped; the certificate loaded last is served")
		}
	}()
	return certs, nil
}

type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}

// closeWhileStopping answers every request of the shutdown with Connection: close. The
// client's next call opens a new connection, which the Service routes to a ready
// replica; a kept-alive connection would bring calls here until the drain ended it.
func (s *server) closeWhileStopping(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.stopping.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}
