package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// Run serves the webhook until ctx is cancelled, then stays up for the shutdown delay
// with readiness false, and drains. Errors the operator fixes on the command line are
// *OptionError.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if err := o.checkPaths(); err != nil {
		return err
	}
	o = o.withDefaults()
	log := logf.FromContext(ctx)
	tlsConfig, err := o.tlsConfig()
	if err != nil {
		return &OptionError{Err: err}
	}
	mem := o.memory()

	var policies PolicySet
	rl := &reloader{
		opts: engine.Options{PolicyDir: o.PolicyDir, ConfigFile: o.ConfigFile, RunTests: true},
		set:  &policies,
		log:  log,
	}
	// A policy set that does not load at start-up does not stop the process: it stays
	// up, not ready, answering every review with an error, until the files are fixed.
	rl.load(ctx)

	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	validator := &Validator{Policies: &policies, EvalTimeout: o.EvalTimeout}
	var cluster *clusterCache
	var cfg *rest.Config
	if o.WatchCluster || o.MetricsSecure || o.WebhookConfiguration != "" {
		if cfg, err = restConfig(o.Kubeconfig); err != nil {
			return &OptionError{Err: fmt.Errorf("--watch-cluster and --metrics-secure need a cluster (use --watch-cluster=false and --metrics-secure=false without one): %w", err)}
		}
	}
	if o.WatchCluster {
		if cluster, err = startClusterCache(serveCtx, cfg); err != nil {
			return err
		}
		validator.Cluster = cluster
	}

	certs, err := watchCertificate(serveCtx, o.CertDir)
	if err != nil {
		return &OptionError{Err: fmt.Errorf("--cert-dir %s: %w", o.CertDir, err)}
	}
	tlsConfig.GetCertificate = certs.GetCertificate

	var stopping, serving atomic.Bool
	ready := &readiness{revision: rl.revision, checks: []namedCheck{
		{"policies", func() error {
			if policies.Get() == nil {
				return errNoPolicies
			}
			return nil
		}},
		{"webhook-server", func() error {
			if !serving.Load() {
				return errors.New("not serving yet")
			}
			return nil
		}},
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
	metricsHandler, err := metricsHandler(cfg, o.MetricsSecure, log)
	if err != nil {
		return err
	}
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", metricsHandler)
	var metricsTLS *tls.Config
	if o.MetricsSecure {
		// The webhook's certificate and TLS settings; callers prove who they are with a
		// bearer token, not a client certificate.
		metricsTLS = tlsConfig.Clone()
		metricsTLS.ClientAuth, metricsTLS.ClientCAs = tls.NoClientCert, nil
	}
	errs := make(chan error, 2)
	addrs := map[string]string{}
	for _, s := range []struct {
		addr, name string
		h          http.Handler
		tls        *tls.Config
		conns      int
	}{
		// The kubelet's probes must get through whoever else connects: the health port
		// is not bounded. Scrapers keep one connection each.
		{o.HealthAddr, "health", healthMux, nil, 0}, {o.MetricsAddr, "metrics", metricsMux, metricsTLS, metricsConnections},
	} {
		url, hs, err := listenPlain(serveCtx, s.addr, s.h, s.tls, s.conns)
		if err != nil {
			return fmt.Errorf("%s server: %w", s.name, err)
		}
		addrs[s.name] = url
		go func() { errs <- hs() }()
	}

	webhooks := http.NewServeMux()
	// controller-runtime's server only registers the hooks, which wraps each in its
	// request metrics. Serving is done by webhookServer, with the timeouts and limits the
	// controller-runtime server does not set.
	registrar := ctrlwebhook.NewServer(ctrlwebhook.Options{WebhookMux: webhooks})
	// One gate and one body budget for both hooks: they share the cores and the memory.
	gate := newGate(o.MaxEvaluations, mem.evaluations, o.EvalTimeout)
	bodies := newBodyBudget(mem.bodies, o.ReadTimeout)
	registrar.Register("/validate", reviewBody(&admission.Webhook{Handler: validator, LogConstructor: requestLogger}, webhookValidate, &policies, gate, bodies))
	registrar.Register("/mutate", reviewBody(&admission.Webhook{Handler: &Mutator{Policies: &policies, EvalTimeout: o.EvalTimeout}, LogConstructor: requestLogger}, webhookMutate, &policies, gate, bodies))
	ws, err := listenWebhook(serveCtx, o, tlsConfig, closeWhileStopping(&stopping, webhooks))
	if err != nil {
		return fmt.Errorf("webhook server: %w", err)
	}
	webhookDone := make(chan error, 1)
	go func() {
		serving.Store(true)
		webhookDone <- ws.serve()
	}()
	log.Info("podguard serving", "version", o.Version, "commit", buildCommit(), "revision", rl.revision(),
		"webhook", "https://"+ws.ln.Addr().String(), "metrics", addrs["metrics"], "health", addrs["health"],
		"maxConnections", o.MaxConnections, "maxEvaluations", o.MaxEvaluations,
		"memoryLimit", memoryLimitText(mem), "evaluationMemory", mib(mem.evaluations), "bodyMemory", mib(mem.bodies))

	every := o.ReloadInterval
	if every == 0 {
		every = 2 * time.Second
	}
	go rl.run(serveCtx, every)
	if o.WebhookConfiguration != "" {
		if err := startRegistration(serveCtx, o, cfg, ready, certs.GetCertificate, &policies, log); err != nil {
			return err
		}
	}

	select {
	case err := <-errs:
		ws.srv.Close()
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
		ws.srv.Close()
		return err
	case err := <-webhookDone:
		return fmt.Errorf("webhook server: %w", err)
	}
	log.Info("draining")
	// A request in flight ends within the write timeout, its own deadline.
	drainCtx, cancel := context.WithTimeout(context.Background(), o.writeTimeout())
	defer cancel()
	if err := ws.srv.Shutdown(drainCtx); err != nil {
		ws.srv.Close()
		return fmt.Errorf("webhook server: draining: %w", err)
	}
	if err := <-webhookDone; err != nil {
		return fmt.Errorf("webhook server: %w", err)
	}
	log.Info("drained")
	return nil
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

// webhookServer serves the webhook endpoints over TLS.
type webhookServer struct {
	srv *http.Server
	ln  net.Listener
}

// listenWebhook binds the port, so that a taken one fails start-up.
func listenWebhook(ctx context.Context, o Options, cfg *tls.Config, h http.Handler) (*webhookServer, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(o.BindAddress, strconv.Itoa(o.Port)))
	if err != nil {
		return nil, err
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &webhookServer{
		ln: tls.NewListener(limitConnections(ln, o.MaxConnections, openConnections), cfg),
		srv: &http.Server{
			Handler:           h,
			Protocols:         &protocols,
			ReadHeaderTimeout: o.ReadHeaderTimeout,
			ReadTimeout:       o.ReadTimeout,
			WriteTimeout:      o.writeTimeout(),
			IdleTimeout:       o.IdleTimeout,
			// The API server sends a handful of short headers; every connection may
			// hold this much, so it counts in the memory bound.
			MaxHeaderBytes: maxHeaderBytes,
			// net/http reports refused handshakes and cut connections here; through
			// the logger they stay structured log lines.
			ErrorLog: stdlog.New(logWriter{logf.FromContext(ctx).WithName("http")}, "", 0),
		},
	}, nil
}

const maxHeaderBytes = 16 << 10

func (s *webhookServer) serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// limitConnections lets at most n connections be open at once: beyond, Accept waits for
// one to close, and new connections wait in the kernel's queue. Each connection holds
// memory (TLS state, buffers, headers, the start of a body), so this bounds what idle or
// slow clients can make podguard hold. open, when not nil, counts the open connections.
func limitConnections(ln net.Listener, n int, open prometheus.Gauge) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), closed: make(chan struct{}), open: open}
}

// metricsConnections bounds the connections to /metrics.
const metricsConnections = 64

type limitListener struct {
	net.Listener
	open      prometheus.Gauge
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	if l.open != nil {
		l.open.Inc()
	}
	return &limitConn{Conn: c, l: l}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.l.open != nil {
			c.l.open.Dec()
		}
		<-c.l.slots
	})
	return err
}

type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}

// closeWhileStopping answers every request of the shutdown delay with Connection: close.
// The client's next call opens a new connection, which the Service routes to a ready
// replica; a kept-alive connection would bring calls here until the drain cut it.
func closeWhileStopping(stopping *atomic.Bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stopping.Load() {
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
		leave, err := gate.admit(ctx, hook, body, readsObject)
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

// refuse answers a review that got no room in the gate with a 503 (an object the API
// server would refuse itself with a 422) that carries its uid, so the API server reads it
// as podguard's answer (which refuses the request under
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
	code := int32(http.StatusServiceUnavailable)
	if invalid := (*invalidObjectError)(nil); errors.As(err, &invalid) {
		code = http.StatusUnprocessableEntity
	}
	logf.FromContext(ctx).WithName("admission").Error(err, "request refused", "code", code, "uid", review.Request.UID)
	decisions.WithLabelValues(hook, operationLabel(review.Request.Operation), "error").Inc()
	resp := admission.Errored(code, err)
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

// listenPlain binds addr now (so a taken port fails start-up) and returns the URL it
// serves and the serve loop; with cfg, it serves HTTPS; with maxConns > 0, at most that
// many connections are open at once. Idle connections are closed after a minute, so
// that clients which connect and wait do not pile up.
func listenPlain(ctx context.Context, addr string, h http.Handler, cfg *tls.Config, maxConns int) (string, func() error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	url := "http://" + ln.Addr().String()
	if maxConns > 0 {
		ln = limitConnections(ln, maxConns, nil)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
		url = "https://" + ln.Addr().String()
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: maxHeaderBytes}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	return url, func() error {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, nil
}
