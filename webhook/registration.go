package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podguard/podguard/policies/prefilter"
)

// FailurePolicyAnnotation, on a webhook configuration named by --webhook-configuration,
// is the failurePolicy its webhooks should have. The chart registers them with Ignore, so
// that a podguard that never starts (an image that cannot be pulled, a crash loop, no
// CA yet) refuses nothing; a ready podguard that the API server can verify turns them to
// what the annotation asks for.
const FailurePolicyAnnotation = "podguard.io/failure-policy"

// registration keeps the failurePolicy of podguard's two webhook configurations as
// their annotation asks, once this process is ready and the caBundle of each webhook
// verifies the certificate it serves. It only reads and updates those two objects, so
// RBAC can limit it to their names; it never creates them, so a podguard still running
// after `helm uninstall` cannot bring them back.
type registration struct {
	name    string
	client  client.Client
	ready   func() bool
	serving func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	log     logr.Logger
	// lastWait is the reason logged last for not setting Fail, so it is logged once.
	lastWait string
	// policies is the set served; with prefilter set, its generated matchConditions
	// (policies/prefilter) are kept on the webhooks, after the operator's own.
	policies  *PolicySet
	prefilter bool
	// synced is the revision whose conditions were last written (or found in place).
	synced string
	// refused is the revision whose conditions the API server refused, so they are not
	// tried again until the policy set changes.
	refused string
}

// Until they are as asked they are checked every second, then every checkEvery.
const registrationCheckEvery = 30 * time.Second

func newRegistration(o Options, cfg *rest.Config, ready *readiness, serving func(*tls.ClientHelloInfo) (*tls.Certificate, error), policies *PolicySet, log logr.Logger) (*registration, error) {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("--webhook-configuration: %w", err)
	}
	return &registration{name: o.WebhookConfiguration, client: c, ready: ready.ok, serving: serving, log: log.WithName("registration"),
		policies: policies, prefilter: !o.NoPrefilter}, nil
}

// run syncs every second until the configurations are as asked, then every
// registrationCheckEvery, and at once (within a second) when the policy set served
// changes, so the registered prefilter follows a reload.
func (r *registration) run(ctx context.Context) {
	var next time.Time
	for {
		if r.ready() && (time.Now().After(next) || r.revision() != r.synced) {
			next = time.Now()
			done, err := r.sync(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.Error(err, "webhook configurations not checked", "name", r.name)
			}
			if done {
				next = next.Add(registrationCheckEvery)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// revision is that of the policy set served ("" before one loads).
func (r *registration) revision() string {
	if r.policies == nil {
		return ""
	}
	if e := r.policies.Get(); e != nil {
		return e.Revision()
	}
	return ""
}

// sync sets both configurations' failurePolicy as their annotation asks, and reports
// whether they are now as asked.
func (r *registration) sync(ctx context.Context) (bool, error) {
	revision := r.revision()
	done := true
	for _, obj := range []client.Object{&admissionregistrationv1.ValidatingWebhookConfiguration{}, &admissionregistrationv1.MutatingWebhookConfiguration{}} {
		ok, err := r.syncOne(ctx, obj)
		if err != nil {
			return false, err
		}
		done = done && ok
	}
	if done {
		r.synced = revision
	}
	return done, nil
}

func (r *registration) syncOne(ctx context.Context, obj client.Object) (bool, error) {
	done := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := r.client.Get(ctx, client.ObjectKey{Name: r.name}, obj); err != nil {
			return client.IgnoreNotFound(err)
		}
		want := admissionregistrationv1.FailurePolicyType(obj.GetAnnotations()[FailurePolicyAnnotation])
		if want != admissionregistrationv1.Fail && want != admissionregistrationv1.Ignore {
			// Not managed by podguard (no annotation): leave it as it is.
			done = true
			return nil
		}
		hooks := webhooksOf(obj)
		// failurePolicy turns to Fail for every webhook at once, or for none yet.
		verified := true
		for _, h := range hooks {
			if want == admissionregistrationv1.Fail && *h.policy != want {
				if err := r.verifies(h.client); err != nil {
					r.waiting(fmt.Sprintf("%T %s webhook %s stays Ignore: %v", obj, r.name, h.name, err))
					verified = false
					break
				}
			}
		}
		policyChanged := false
		for _, h := range hooks {
			if verified && *h.policy != want {
				*h.policy = want
				policyChanged = true
			}
		}
		before := make([][]admissionregistrationv1.MatchCondition, len(hooks))
		conditionsChanged := false
		if own, ok := r.ownConditions(obj); ok {
			for i, h := range hooks {
				before[i] = *h.conditions
				merged, changed, err := withPrefilter(*h.conditions, own)
				if err != nil {
					r.log.Error(err, "prefilter not written", "kind", fmt.Sprintf("%T", obj), "name", r.name, "webhook", h.name)
					continue
				}
				if changed {
					*h.conditions = merged
					conditionsChanged = true
				}
			}
		}
		if policyChanged || conditionsChanged {
			err := r.client.Update(ctx, obj, client.FieldOwner(fieldManager))
			if apierrors.IsInvalid(err) && conditionsChanged {
				// An API server that cannot compile or afford them (before 1.30, or a cost
				// over its limit) refuses the conditions: podguard is then called for
				// everything, its older conditions removed too, since they may be looser
				// than the set now served.
				r.refused = r.revision()
				r.log.Error(err, "prefilter refused by the API server; podguard is called for every request", "name", r.name)
				conditionsChanged = false
				for i, h := range hooks {
					stripped, changed, _ := withPrefilter(before[i], nil)
					*h.conditions = stripped
					conditionsChanged = conditionsChanged || changed
				}
				if !policyChanged && !conditionsChanged {
					done = verified
					return nil
				}
				err = r.client.Update(ctx, obj, client.FieldOwner(fieldManager))
			}
			if err != nil {
				return err
			}
			if policyChanged {
				r.log.Info("failurePolicy set", "kind", fmt.Sprintf("%T", obj), "name", r.name, "failurePolicy", want)
			}
			if conditionsChanged {
				r.log.Info("prefilter written", "kind", fmt.Sprintf("%T", obj), "name", r.name, "revision", r.revision())
			}
		}
		// Also when nothing changed now: an entry left by a process stopped between the
		// two updates is dropped by the next one. The second update is finished even
		// when shutdown has begun, so that a podguard stopped right after an update
		// leaves no entry for helm upgrade to conflict with.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), disownTimeout)
		defer cancel()
		if err := r.disown(dctx, obj); err != nil {
			return err
		}
		done = verified
		return nil
	})
	return done, err
}

// ownConditions are the generated conditions of the policy set served for this kind of
// configuration: none (so any registered before are removed) with the prefilter off or
// refused by the API server for this set; false when nothing is to change (no set loaded).
func (r *registration) ownConditions(obj client.Object) ([]admissionregistrationv1.MatchCondition, bool) {
	if r.policies == nil {
		return nil, false
	}
	e := r.policies.Get()
	if e == nil {
		return nil, false
	}
	if !r.prefilter || e.Revision() == r.refused {
		return nil, true
	}
	set := prefilter.Generate(e.Config(), e.Rules())
	cs := set.Validating
	if _, ok := obj.(*admissionregistrationv1.MutatingWebhookConfiguration); ok {
		cs = set.Mutating
	}
	out := make([]admissionregistrationv1.MatchCondition, len(cs))
	for i, c := range cs {
		out[i] = admissionregistrationv1.MatchCondition{Name: c.Name, Expression: c.Expression}
	}
	return out, true
}

// withPrefilter replaces podguard's generated conditions among a webhook's with own,
// after the operator's (all must be true to call), in one update: the API server sees the
// old set or the new, never a mix. It reports whether anything changed.
func withPrefilter(current, own []admissionregistrationv1.MatchCondition) ([]admissionregistrationv1.MatchCondition, bool, error) {
	var operator, registered []prefilter.Condition
	for _, c := range current {
		pc := prefilter.Condition{Name: c.Name, Expression: c.Expression}
		if prefilter.Generated(c.Name) {
			registered = append(registered, pc)
		} else {
			operator = append(operator, pc)
		}
	}
	wanted := make([]prefilter.Condition, len(own))
	for i, c := range own {
		wanted[i] = prefilter.Condition{Name: c.Name, Expression: c.Expression}
	}
	if slices.Equal(registered, wanted) {
		return current, false, nil
	}
	merged, err := prefilter.Merge(operator, wanted)
	if err != nil {
		return nil, false, err
	}
	out := make([]admissionregistrationv1.MatchCondition, len(merged))
	for i, c := range merged {
		out[i] = admissionregistrationv1.MatchCondition{Name: c.Name, Expression: c.Expression}
	}
	return out, true, nil
}

// disownTimeout bounds the update that drops podguard's managed-fields entry once
// shutdown has begun.
const disownTimeout = 10 * time.Second

// fieldManager is the name podguard's updates are recorded under.
const fieldManager = "podguard"

// disown drops podguard's entry from the object's managed fields, so that failurePolicy
// belongs to no one: the next server-side apply of the configuration (helm upgrade with
// Helm 4) may set it, to Ignore for a new CA or a changed choice, without a conflict
// with podguard.
func (r *registration) disown(ctx context.Context, obj client.Object) error {
	var kept []metav1.ManagedFieldsEntry
	for _, m := range obj.GetManagedFields() {
		if m.Manager != fieldManager {
			kept = append(kept, m)
		}
	}
	if len(kept) == len(obj.GetManagedFields()) || len(kept) == 0 {
		return nil
	}
	obj.SetManagedFields(kept)
	return r.client.Update(ctx, obj, client.FieldOwner(fieldManager))
}

func (r *registration) waiting(reason string) {
	if reason != r.lastWait {
		r.log.Info("waiting before setting failurePolicy Fail", "reason", reason)
		r.lastWait = reason
	}
}

type hookRef struct {
	name       string
	policy     *admissionregistrationv1.FailurePolicyType
	client     admissionregistrationv1.WebhookClientConfig
	conditions *[]admissionregistrationv1.MatchCondition
}

func webhooksOf(obj client.Object) []hookRef {
	var out []hookRef
	fail := func(p **admissionregistrationv1.FailurePolicyType) *admissionregistrationv1.FailurePolicyType {
		if *p == nil {
			*p = new(admissionregistrationv1.FailurePolicyType)
		}
		return *p
	}
	switch c := obj.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range c.Webhooks {
			w := &c.Webhooks[i]
			out = append(out, hookRef{w.Name, fail(&w.FailurePolicy), w.ClientConfig, &w.MatchConditions})
		}
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range c.Webhooks {
			w := &c.Webhooks[i]
			out = append(out, hookRef{w.Name, fail(&w.FailurePolicy), w.ClientConfig, &w.MatchConditions})
		}
	}
	return out
}

// verifies checks that the API server, calling the webhook as cc says, trusts the
// certificate this process serves: cc's caBundle signs it for the name called. Until
// then (cert-manager's cainjector has not run yet, a Secret of another CA), Fail would
// refuse every guarded request.
func (r *registration) verifies(cc admissionregistrationv1.WebhookClientConfig) error {
	if len(cc.CABundle) == 0 {
		return errors.New("no caBundle yet")
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(cc.CABundle) {
		return errors.New("caBundle holds no PEM certificate")
	}
	var host string
	switch {
	case cc.Service != nil:
		host = cc.Service.Name + "." + cc.Service.Namespace + ".svc"
	case cc.URL != nil:
		u, err := url.Parse(*cc.URL)
		if err != nil {
			return fmt.Errorf("url: %w", err)
		}
		host = u.Hostname()
	default:
		return errors.New("clientConfig names neither a service nor a URL")
	}
	c, err := r.serving(nil)
	if err != nil || c == nil || len(c.Certificate) == 0 {
		return fmt.Errorf("no serving certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(ic)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host}); err != nil {
		return fmt.Errorf("caBundle does not verify the serving certificate for %s: %w", host, err)
	}
	return nil
}

// ok says whether every readiness check passes.
func (r *readiness) ok() bool {
	for _, c := range r.checks {
		if c.check() != nil {
			return false
		}
	}
	return true
}
