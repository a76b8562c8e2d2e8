package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podguard/podguard/policies/engine"
)

// reloader keeps the served policy set in step with --config and --policy-dir. It polls
// a hash of the files rather than relying on file events: a ConfigMap update is a symlink
// swap, which event watchers see inconsistently, and a hash only changes when content
// does.
//
// A change is loaded only once two reads one interval apart agree, so a file rewritten
// in place (truncated, then written) is not compiled half-written; and what is compiled
// is the content of that read, so the revision reported is the one of what is served.
// An empty configuration file is refused, never taken for "no settings": it is what a
// file looks like between its truncation and its rewrite. (`{}` or a comment says "the
// built-in defaults"; without --config they apply too.)
type reloader struct {
	opts engine.Options
	set  *PolicySet
	log  logr.Logger
	// tried is the revision of the last content loaded or refused, so a broken file is
	// reported once, not on every tick, and fixing it is noticed.
	tried string
	// pending is the revision of a change read once, loaded when the next read agrees.
	pending string
	// unreadable is the last error reading the files, reported once.
	unreadable string
	// started is set once the files have been read: from then on a change must be
	// read twice before it is loaded.
	started bool
	// passed spares a reload that changes only the configuration the policy tests.
	passed engine.PassedTests
}

// load reads the files and compiles them if they changed. At start-up (nothing tried
// yet) the first read is loaded as it is; after, a change waits for a second read. A set
// that fails to parse, compile, pass its own tests or validate as config is refused; the
// set being served stays.
func (r *reloader) load(ctx context.Context) {
	snap, err := engine.ReadSnapshot(r.opts)
	if err != nil {
		r.pending = ""
		if err.Error() != r.unreadable {
			r.unreadable = err.Error()
			r.refused(err, "policy files unreadable")
		}
		return
	}
	r.unreadable = ""
	fp := snap.Revision()
	if fp == r.tried {
		r.pending = ""
		return
	}
	if r.started && fp != r.pending {
		r.pending = fp
		r.log.V(1).Info("policy files changed; loading them if they read the same at the next check", "revision", fp)
		return
	}
	r.started, r.pending, r.tried = true, "", fp
	if r.opts.ConfigFile != "" && len(bytes.TrimSpace(snap.Config())) == 0 {
		r.refused(fmt.Errorf("config %s is empty: a file being rewritten looks like this, so it is not taken for the defaults (write {} for them)", r.opts.ConfigFile), "policy set refused")
		return
	}
	opts := r.opts
	opts.Passed = &r.passed
	e, err := engine.LoadSnapshot(ctx, snap, opts)
	if err != nil {
		r.refused(err, "policy set refused", "refused", fp)
		return
	}
	r.set.Set(e)
	revisionInfo.Reset()
	revisionInfo.WithLabelValues(e.Revision()).Set(1)
	reloads.WithLabelValues("success").Inc()
	evaluator, why := e.Evaluator()
	if why != nil {
		r.log.Info("policy set loaded", "revision", e.Revision(), "rules", e.Rules(), "evaluator", evaluator, "notPlanned", why.Error())
	} else {
		r.log.Info("policy set loaded", "revision", e.Revision(), "rules", e.Rules(), "evaluator", evaluator)
	}
	// Rego that compiles but most likely does nothing (a rule never run, a setting never
	// read) is served as written; its author reads why here, as `podguard eval` prints it.
	warnings, _ := engine.Lint(r.opts)
	for _, w := range warnings {
		r.log.Info("policy warning", "file", w.File, "line", w.Line, "warning", w.Message)
	}
	// An exception that expired covers nothing any more; say so each load, as eval does.
	for _, x := range e.Config().ExpiredExceptions(time.Now()) {
		r.log.Info("exception expired; it no longer applies", "exception", x.Index, "rules", x.Rules, "expired", x.Expires, "reason", x.Reason)
	}
}

func (r *reloader) refused(err error, msg string, kv ...any) {
	what := "keeping the policy set being served"
	if r.set.Get() == nil {
		what = "no policy set is served: not ready until the files load"
	}
	r.log.Error(err, msg+"; "+what, append(kv, "revision", r.revision())...)
	reloads.WithLabelValues("error").Inc()
}

func (r *reloader) revision() string {
	if e := r.set.Get(); e != nil {
		return e.Revision()
	}
	return "none"
}

// run checks for changes until ctx ends.
func (r *reloader) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.load(ctx)
		}
	}
}

// recordCertExpiry sets the expiry metric from the certificate being served.
func recordCertExpiry(c *tls.Certificate) {
	leaf := c.Leaf
	if leaf == nil && len(c.Certificate) > 0 {
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return
		}
	}
	if leaf != nil {
		certExpiry.Set(float64(leaf.NotAfter.Unix()))
	}
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
		Help: "NotAfter of the serving certificate being served (the pair in --cert-dir loaded last), in Unix seconds.",
	})
)

func init() {
	registry.MustRegister(reloads, revisionInfo, certExpiry)
}
