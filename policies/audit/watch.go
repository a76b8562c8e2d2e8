package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/podguard/podguard/policies/engine"
)

// WatchOptions configure the audit controller run on its own (`podguard audit --watch`).
type WatchOptions struct {
	Policies engine.Options
	// PollInterval is how often the policy files are read for changes.
	PollInterval time.Duration
	// MetricsAddr and HealthAddr are the listen addresses of /metrics and of /healthz and
	// /readyz ("0" turns one off).
	MetricsAddr, HealthAddr string
	// LeaderElection, in LeaseNamespace, lets one replica of several write the reports.
	LeaderElection bool
	LeaseNamespace string
	LeaseName      string
	LeaseDuration  time.Duration
	// Identity names this replica in the Lease and as the reports' field manager; empty
	// means the host name and a random suffix.
	Identity   string
	Controller ControllerOptions
}

// Watch runs the audit controller until ctx ends. A policy set that does not load at
// start is an error; a later change that does not load is logged and the set in use stays.
func Watch(ctx context.Context, cfg *rest.Config, o WatchOptions) error {
	log := ctrl.LoggerFrom(ctx)
	snap, err := engine.ReadSnapshot(o.Policies)
	if err != nil {
		return err
	}
	e, err := engine.LoadSnapshot(ctx, snap, o.Policies)
	if err != nil {
		return err
	}
	if o.Identity == "" {
		host, _ := os.Hostname()
		o.Identity = host + "_" + rand.String(8)
	}
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	mo := ctrl.Options{
		Scheme:                        scheme,
		Cache:                         CacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.HealthAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionReleaseOnCancel: true,
	}
	if o.LeaderElection {
		lease, renew, retry := o.LeaseDuration, o.LeaseDuration*2/3, o.LeaseDuration/5
		mo.LeaseDuration, mo.RenewDeadline, mo.RetryPeriod = &lease, &renew, &retry
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		mo.LeaderElectionResourceLockInterface, err = resourcelock.New(resourcelock.LeasesResourceLock, o.LeaseNamespace, o.LeaseName,
			cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: o.Identity})
		if err != nil {
			return err
		}
	}
	if err := reportsServed(cfg); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	p := NewPolicies(e)
	o.Controller.FieldOwner = o.Identity
	if err := AddController(mgr, p, o.Controller); err != nil {
		return err
	}
	w := &policyWatch{opts: o.Policies, policies: p, log: log, tried: snap.Revision()}
	go w.run(ctx, o.PollInterval)
	log.Info("audit controller starting", "identity", o.Identity, "revision", e.Revision(), "leaderElection", o.LeaderElection)
	return mgr.Start(ctx)
}

// reportsServed says plainly when the OpenReports CRDs are missing, rather than as the
// cache's failure to map the kind.
func reportsServed(cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	list, err := dc.ServerResourcesForGroupVersion(openreports.GroupVersion.String())
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("asking the API server for %s: %w", openreports.GroupVersion, err)
	}
	if list != nil {
		for _, r := range list.APIResources {
			if r.Name == "reports" {
				return nil
			}
		}
	}
	return fmt.Errorf("the OpenReports CRDs (reports.openreports.io/v1alpha1) are not installed: install them (the chart's audit.installCRDs, Kyverno 1.15 and later, or the reports-api module's config/crd)")
}

// policyWatch reloads the policy set when its files change, as `serve` does: by a hash of
// the files, loaded once two reads one interval apart agree (a file rewritten in place is
// never compiled half-written); an empty configuration file or a set that does not load is
// refused and the set in use stays.
type policyWatch struct {
	opts     engine.Options
	policies *Policies
	log      logr.Logger
	tried    string
	pending  string
}

func (w *policyWatch) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check(ctx)
		}
	}
}

func (w *policyWatch) check(ctx context.Context) {
	snap, err := engine.ReadSnapshot(w.opts)
	if err != nil {
		w.log.Error(err, "policy files unreadable; judging with the set in use")
		return
	}
	rev := snap.Revision()
	if rev == w.tried {
		w.pending = ""
		return
	}
	if rev != w.pending {
		w.pending = rev
		return
	}
	w.tried, w.pending = rev, ""
	if w.opts.ConfigFile != "" && len(bytes.TrimSpace(snap.Config())) == 0 {
		w.log.Error(fmt.Errorf("config %s is empty (write {} for the defaults)", w.opts.ConfigFile), "policy set refused; judging with the set in use")
		return
	}
	e, err := engine.LoadSnapshot(ctx, snap, w.opts)
	if err != nil {
		w.log.Error(err, "policy set refused; judging with the set in use", "revision", rev)
		return
	}
	w.log.Info("policy set loaded; auditing every namespace again", "revision", e.Revision())
	w.policies.Set(e)
}
