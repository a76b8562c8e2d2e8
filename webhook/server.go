package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

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
		opts: engine.Options{PolicyDir: o.PolicyDir, ConfigFile: o.ConfigFile, RunTests: true},
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
	if o.WatchCluster || o.MetricsSecure {
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
	if s.health, err = listenHTTP(ctx, "health", o.HealthAddr, s.healthMux(cluster), nil, nil); err != nil {
		return nil, err
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
	scrapers := &connLimits{total: metricsConnections, perSource: metricsConnections, newTimeout: o.NewConnectionTimeout}
	if s.metrics, err = listenHTTP(ctx, "metrics", o.MetricsAddr, metricsMux, metricsTLS, scrapers); err != nil {
		return nil, err
	}

	webhooks := http.NewServeMux()
	// controller-runtime's server only registers the hooks, which wraps each in its
	// request metrics. Serving is done by the webhook's httpServer, with the timeouts and
	// limits the controller-runtime server does not set.
	registrar := ctrlwebhook.NewServer(ctrlwebhook.Options{WebhookMux: webhooks})
	// One gate and one body budget for both hooks: they share the cores and the memory.
	gate := newGate(o.MaxEvaluations, s.mem.evaluations, o.EvalTimeout)
	bodies := newBodyBudget(s.mem.bodies, o.ReadTimeout)
	registrar.Register("/validate", reviewBody(&admission.Webhook{Handler: validator, LogConstructor: requestLogger}, webhookValidate, &s.policies, gate, bodies))
	registrar.Register("/mutate", reviewBody(&admission.Webhook{Handler: &Mutator{Policies: &s.policies, EvalTimeout: o.EvalTimeout}, LogConstructor: requestLogger}, webhookMutate, &s.policies, gate, bodies))
	limits := &connLimits{total: o.MaxConnections, perSource: o.MaxConnectionsPerSource, newTimeout: o.NewConnectionTimeout}
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

// healthMux serves /healthz and /readyz.
func (s *server) healthMux(cluster *clusterCache) http.Handler {
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

// reviewBody reads the body for controller-runtime's webhook, which decodes it. A body
// declared too large is refused before it is read, and one that turns out too large is
// not read past the limit; the buffer grows as bytes arrive, within the body budget. The
// review's apiVersion and kind go into the context for the handlers: controller-runtime
// decodes any version but does not say which it got. The decoding and judging happen
// inside the gate; a review that gets no room there is answered here, undecoded.
func reviewBody(wh *admission.Webhook, hook string, policies *PolicySet, gate *Gate, bodies *bodyBudget) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// controller-runtime writes its answers without a Content-Type.
		w.Header().Set("Content-Type", "application/json")
		// Checked before the body is read, which is then not worth reading.
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			writeError(w, http.StatusBadRequest, fmt.Errorf("Content-Type %q is not application/json", ct))
			return
		}
		if r.ContentLength >= reviewBytesLimit {
			writeError(w, http.StatusRequestEntityTooLarge, errTooLarge)
			return
		}
		body, release, err := bodies.read(r.Context(), r.Body, r.ContentLength)
		defer release()
		switch {
		case errors.Is(err, errTooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, errTooLarge)
			return
		case errors.Is(err, errBusy):
			writeError(w, http.StatusServiceUnavailable, err)
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err))
			return
		}
		r.Body, r.ContentLength = http.NoBody, int64(len(body))
		if len(body) > 0 {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		var t reviewType
		var isObject bool
		t.apiVersion, t.kind, isObject = peekType(body)
		if len(body) > 0 && !isObject {
			writeError(w, http.StatusBadRequest, errors.New("the request body is not a JSON object"))
			return
		}
		if t.kind != "" && t.kind != "AdmissionReview" {
			writeError(w, http.StatusBadRequest, fmt.Errorf("the body is a %s %s, not an AdmissionReview", t.apiVersion, t.kind))
			return
		}
		// The review's budget starts once its body is in, and the gate is entered only
		// then: a client trickling its body in must not hold a slot. The handlers'
		// evaluation deadline falls within this one.
		ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), reviewTypeKey{}, t), gate.budget)
		defer cancel()
		readsObject := true
		if e := policies.Get(); e != nil {
			readsObject = e.ReadsObject()
		}
		leave, err := gate.enter(ctx, estimatedCost(hook, body, readsObject))
		if err != nil {
			refuse(ctx, w, hook, t, body, err)
			return
		}
		defer leave()
		if t.apiVersion == admissionv1.SchemeGroupVersion.String() && t.kind == "AdmissionReview" && serveReview(ctx, w, wh, body) {
			return
		}
		wh.ServeHTTP(w, r.WithContext(ctx))
	})
}

// serveReview answers a v1 AdmissionReview as controller-runtime's Webhook.ServeHTTP
// does, decoding it once: ServeHTTP first decodes the whole body to learn its apiVersion
// and kind (which peekType has read), then decodes it again, which together cost as
// much as judging a Pod. It decodes with the same case-sensitive decoder and has the
// Webhook handle the request; a body it cannot decode is left to ServeHTTP, which
// answers with its own errors.
func serveReview(ctx context.Context, w http.ResponseWriter, wh *admission.Webhook, body []byte) bool {
	var req admission.Request
	if err := decodeRequest(body, &req.AdmissionRequest); err != nil {
		return false
	}
	resp := wh.Handle(ctx, req)
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: &resp.AdmissionResponse,
	}
	if err := json.NewEncoder(w).Encode(out); err != nil {
		logf.FromContext(ctx).WithName("admission").Info("the answer could not be written", "error", err.Error())
	}
	return true
}

// refuse answers a review that got no room in the gate with a 503 that carries its uid,
// so the API server reads it as podguard's answer (which refuses the request under
// either failurePolicy), not as a broken call. Only the uid and operation are decoded:
// decoding the whole review is what the gate bounds.
func refuse(ctx context.Context, w http.ResponseWriter, hook string, t reviewType, body []byte, err error) {
	var review struct {
		Request struct {
			UID       string                `json:"uid"`
			Operation admissionv1.Operation `json:"operation"`
		} `json:"request"`
	}
	_ = json.Unmarshal(body, &review)
	logf.FromContext(ctx).WithName("admission").Error(err, "request refused", "code", http.StatusServiceUnavailable, "uid", review.Request.UID)
	decisions.WithLabelValues(hook, operationLabel(review.Request.Operation), "error").Inc()
	resp := admission.Errored(http.StatusServiceUnavailable, err)
	resp.UID = types.UID(review.Request.UID)
	out := admissionv1.AdmissionReview{Response: &resp.AdmissionResponse}
	apiVersion := admissionv1.SchemeGroupVersion.String()
	if t.apiVersion == "admission.k8s.io/v1beta1" {
		apiVersion = t.apiVersion
	}
	out.APIVersion, out.Kind = apiVersion, "AdmissionReview"
	if err := json.NewEncoder(w).Encode(out); err != nil {
		logf.Log.WithName("admission").Error(err, "writing the error answer")
	}
}

// writeError answers with an error as an admission.k8s.io/v1 review, the version the API
// server expects, so it shows the message instead of a malformed-response error.
func writeError(w http.ResponseWriter, code int32, err error) {
	resp := admission.Errored(code, err)
	review := admissionv1.AdmissionReview{Response: &resp.AdmissionResponse}
	review.SetGroupVersionKind(admissionv1.SchemeGroupVersion.WithKind("AdmissionReview"))
	if err := json.NewEncoder(w).Encode(review); err != nil {
		logf.Log.WithName("admission").Error(err, "writing the error answer")
	}
}
