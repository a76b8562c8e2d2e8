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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
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
	o = o.withDefaults()
	log := logf.FromContext(ctx)
	tlsConfig, err := o.tlsConfig()
	if err != nil {
		return err
	}

	var policies PolicySet
	rl := &reloader{
		opts: engine.Options{PolicyDir: o.PolicyDir, ConfigFile: o.ConfigFile, RunTests: true},
		set:  &policies,
		log:  log,
	}
	// A broken policy set at start-up does not stop the process: it stays up, not ready,
	// answering every review with an error, until the files are fixed.
	rl.load(ctx)

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
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	errs := make(chan error, 2)
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

	webhooks := http.NewServeMux()
	// controller-runtime's server only registers the hooks, which wraps each in its
	// request metrics. Serving is done by webhookServer, with the timeouts the
	// controller-runtime server does not set.
	registrar := ctrlwebhook.NewServer(ctrlwebhook.Options{WebhookMux: webhooks})
	// One gate for both hooks: they share the cores.
	gate := &Gate{slots: make(chan struct{}, o.MaxEvaluations), budget: o.EvalTimeout}
	registrar.Register("/validate", reviewBody(&admission.Webhook{Handler: validator}, gate))
	registrar.Register("/mutate", reviewBody(&admission.Webhook{Handler: &Mutator{Policies: &policies, EvalTimeout: o.EvalTimeout}}, gate))
	ws, err := listenWebhook(serveCtx, o, tlsConfig, closeWhileStopping(&stopping, webhooks))
	if err != nil {
		return fmt.Errorf("webhook server: %w", err)
	}
	webhookDone := make(chan error, 1)
	go func() {
		serving.Store(true)
		webhookDone <- ws.serve()
	}()

	every := o.ReloadInterval
	if every == 0 {
		every = 2 * time.Second
	}
	go rl.run(serveCtx, every, o.CertDir)

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

// webhookServer serves the webhook endpoints over TLS.
type webhookServer struct {
	srv *http.Server
	ln  net.Listener
}

// listenWebhook loads the serving certificate and binds the port, so that both fail
// start-up; the certificate is then reloaded whenever its files change.
func listenWebhook(ctx context.Context, o Options, cfg *tls.Config, h http.Handler) (*webhookServer, error) {
	certs, err := certwatcher.New(filepath.Join(o.CertDir, "tls.crt"), filepath.Join(o.CertDir, "tls.key"))
	if err != nil {
		return nil, err
	}
	go func() {
		if err := certs.Start(ctx); err != nil {
			logf.FromContext(ctx).Error(err, "certificate watcher stopped; the certificate loaded last is served")
		}
	}()
	cfg.GetCertificate = certs.GetCertificate
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(o.Port))
	if err != nil {
		return nil, err
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &webhookServer{
		ln: tls.NewListener(ln, cfg),
		srv: &http.Server{
			Handler:           h,
			Protocols:         &protocols,
			ReadHeaderTimeout: o.ReadHeaderTimeout,
			ReadTimeout:       o.ReadTimeout,
			WriteTimeout:      o.writeTimeout(),
			IdleTimeout:       o.IdleTimeout,
			// The API server sends a handful of short headers.
			MaxHeaderBytes: 64 << 10,
			// net/http reports refused handshakes and cut connections here; through
			// the logger they stay structured log lines.
			ErrorLog: stdlog.New(logWriter{logf.FromContext(ctx).WithName("http")}, "", 0),
		},
	}, nil
}

func (s *webhookServer) serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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

// reviewBytesLimit is controller-runtime's: a body must be smaller than 7 MiB, room for
// the two objects of an UPDATE of up to 3 MiB each.
const reviewBytesLimit = 7 << 20

var errTooLarge = fmt.Errorf("request body is too large: it must be smaller than 7 MiB (%d bytes)", reviewBytesLimit)

// reviewBody reads the body for controller-runtime's webhook, which decodes it. A body
// declared too large is refused before it is read, and one that turns out too large is
// not read past the limit. The review's apiVersion and kind go into the context for the
// handlers: controller-runtime decodes any version but does not say which it got.
// The decoding and judging happen inside the gate.
func reviewBody(wh *admission.Webhook, gate *Gate) http.Handler {
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
		buf := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 0)+bytes.MinRead))
		if _, err := buf.ReadFrom(io.LimitReader(r.Body, reviewBytesLimit)); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = errors.New("the request body did not arrive within the read timeout")
			}
			writeError(w, http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err))
			return
		}
		if buf.Len() >= reviewBytesLimit {
			writeError(w, http.StatusRequestEntityTooLarge, errTooLarge)
			return
		}
		body := buf.Bytes()
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
		if err := gate.enter(ctx); err != nil {
			ctx = context.WithValue(ctx, overloadedKey{}, err)
		} else {
			defer gate.leave()
		}
		wh.ServeHTTP(w, r.WithContext(ctx))
	})
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

// peekType reads the top-level apiVersion and kind of a review, and whether the body is
// a JSON object at all. The API server writes them first, so the objects that follow
// are not scanned.
func peekType(body []byte) (apiVersion, kind string, isObject bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", "", false
	}
	for (apiVersion == "" || kind == "") && dec.More() {
		key, err := dec.Token()
		if err != nil {
			break
		}
		switch key {
		case "apiVersion":
			err = dec.Decode(&apiVersion)
		case "kind":
			err = dec.Decode(&kind)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			break
		}
	}
	return apiVersion, kind, true
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
