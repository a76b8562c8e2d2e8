package webhook

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podguard/podguard/policies/engine"
)

// reloader keeps the served policy set in step with --config and --policy-dir. It polls
// a hash of the files rather than relying on file events: a ConfigMap update is a symlink
// swap, which event watchers see inconsistently, and a hash only changes when content does.
type reloader struct {
	opts engine.Options
	set  *PolicySet
	log  logr.Logger
	// tried is the fingerprint of the last attempt, good or bad, so a broken file is
	// reported once, not on every tick, and fixing it is noticed at once.
	tried string
}

// load compiles the files if they changed since the last attempt. A set that fails to
// parse, compile, pass its own tests or validate as config is refused; the set being
// served stays.
func (r *reloader) load(ctx context.Context) {
	fp, err := engine.Fingerprint(r.opts)
	if err != nil {
		if r.tried != "unreadable" {
			r.log.Error(err, "policy files unreadable; keeping the policy set being served", "revision", r.revision())
			reloads.WithLabelValues("error").Inc()
			r.tried = "unreadable"
		}
		return
	}
	if fp == r.tried {
		return
	}
	r.tried = fp
	e, err := engine.Load(ctx, r.opts)
	if err != nil {
		r.log.Error(err, "policy set refused; keeping the one being served", "refused", fp, "revision", r.revision())
		reloads.WithLabelValues("error").Inc()
		return
	}
	r.set.Set(e)
	revisionInfo.Reset()
	revisionInfo.WithLabelValues(e.Revision()).Set(1)
	reloads.WithLabelValues("success").Inc()
	r.log.Info("policy set loaded", "revision", e.Revision(), "rules", e.Rules())
}

func (r *reloader) revision() string {
	if e := r.set.Get(); e != nil {
		return e.Revision()
	}
	return "none"
}

// run reloads on change until ctx ends, and refreshes the certificate expiry metric.
func (r *reloader) run(ctx context.Context, every time.Duration, certDir string) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		recordCertExpiry(certDir)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.load(ctx)
		}
	}
}

func recordCertExpiry(certDir string) {
	b, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
	if err != nil {
		return
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return
	}
	certExpiry.Set(float64(cert.NotAfter.Unix()))
}

var (
	reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podguard_policy_reloads_total",
		Help: "Attempts to load a changed policy set, by result (success, error). An error keeps the set being served.",
	}, []string{"result"})
	revisionInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "podguard_policy_revision_info",
		Help: "The revision (hash of policy files and config) being served, as a label; the value is 1.",
	}, []string{"revision"})
	certExpiry = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "podguard_serving_certificate_expiry_timestamp_seconds",
		Help: "NotAfter of the serving certificate in --cert-dir, in Unix seconds.",
	})
)

func init() {
	registry.MustRegister(reloads, revisionInfo, certExpiry)
}
