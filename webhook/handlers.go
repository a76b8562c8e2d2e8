package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podguard/podguard/policies/engine"
)

// PolicySet is the policy set being served. Handlers read it once per request, so a
// request in flight finishes on the set it started with when a new one is swapped in.
type PolicySet struct{ current atomic.Pointer[engine.Engine] }

// Get returns the set being served, or nil before one has loaded.
func (s *PolicySet) Get() *engine.Engine { return s.current.Load() }

// Set swaps in a new set.
func (s *PolicySet) Set(e *engine.Engine) { s.current.Store(e) }

var errNoPolicies = errors.New("no policy set is loaded")

// Validator answers /validate.
type Validator struct {
	Policies    *PolicySet
	EvalTimeout time.Duration
	// Cluster gives the namespace's LimitRanges, whose defaults a workload's Pods will
	// get, and its labels, which namespace overrides may select on; nil means neither.
	Cluster ClusterState
}

// ClusterState is what podguard reads from the cluster about a namespace.
type ClusterState interface {
	For(ctx context.Context, namespace string) ([]corev1.LimitRange, error)
	NamespaceLabels(ctx context.Context, namespace string) (map[string]string, error)
}

// Mutator answers /mutate.
type Mutator struct {
	Policies    *PolicySet
	EvalTimeout time.Duration
}

const (
	webhookValidate = "validate"
	webhookMutate   = "mutate"
)

// checkReview refuses what the API server does not send: a request without its uid or
// operation. Answering those "allowed" would let a malformed call pass for a verdict.
// (The review's version is checked by the hook, which reads it.)
func checkReview(_ context.Context, req Request) error {
	if req.UID == "" {
		if req.Operation == "" && req.Kind.Kind == "" && req.Object.Empty() {
			return errors.New("the AdmissionReview has no request")
		}
		return errors.New("request.uid is empty")
	}
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
		return nil
	}
	return fmt.Errorf("request.operation %q is not CREATE, UPDATE, DELETE or CONNECT", req.Operation)
}

// Handle judges the object and denies, warns or allows. Like every handler here it reads
// the review, asks engine.Review for the verdict and writes it: which requests are judged,
// at which stage, and what an UPDATE adds are the engine's to decide.
func (v *Validator) Handle(ctx context.Context, req Request) admission.Response {
	r := request(req)
	if v.Cluster != nil {
		r.Cluster = cluster{v.Cluster}
	}
	verdict, resp, done := review(ctx, v.Policies, webhookValidate, req, r, v.EvalTimeout)
	if done {
		return resp
	}
	return respond(ctx, req, verdict)
}

// request is the review an admission request asks for.
func request(req Request) engine.Request {
	return engine.Request{
		Operation: engine.Operation(req.Operation),
		Group:     req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind,
		Resource: req.Resource.Resource, SubResource: req.SubResource,
		Namespace: req.Namespace,
		Object:    req.Object, OldObject: req.OldObject,
	}
}

// review checks the request, then runs the review within the evaluation timeout on the
// policy set being served. When it ends without a verdict to write (an error, or a
// request allowed without evaluation) it returns the answer and done.
func review(ctx context.Context, policies *PolicySet, hook string, req Request, r engine.Request, timeout time.Duration) (engine.Verdict, admission.Response, bool) {
	start := time.Now()
	if err := checkReview(ctx, req); err != nil {
		return engine.Verdict{}, errored(ctx, hook, req, http.StatusBadRequest, err), true
	}
	e := policies.Get()
	if e == nil {
		return engine.Verdict{}, errored(ctx, hook, req, http.StatusInternalServerError, errNoPolicies), true
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	verdict, err := e.Review(ctx, r)
	var bad *engine.ObjectError
	switch {
	case errors.As(err, &bad):
		return verdict, errored(ctx, hook, req, http.StatusBadRequest, err), true
	case err != nil:
		return verdict, errored(ctx, hook, req, http.StatusInternalServerError, overDeadline(ctx, timeout, err)), true
	case verdict.Skipped != engine.NotSkipped:
		return verdict, allowed(ctx, hook, req, verdict.Reason), true
	}
	evalDuration.WithLabelValues(hook).Observe(time.Since(start).Seconds())
	return verdict, admission.Response{}, false
}

// cluster is what the cluster cache knows about a namespace, for the engine.
type cluster struct{ state ClusterState }

func (c cluster) Namespace(ctx context.Context, name string, limitRanges bool) (engine.Namespace, error) {
	var ns engine.Namespace
	var err error
	if ns.Labels, err = c.state.NamespaceLabels(ctx, name); err != nil {
		return ns, err
	}
	if limitRanges {
		ns.LimitRanges, err = c.state.For(ctx, name)
	}
	return ns, err
}

// Handle fills in the missing defaults of a new Pod.
func (m *Mutator) Handle(ctx context.Context, req Request) admission.Response {
	r := request(req)
	r.Mutate = true
	verdict, resp, done := review(ctx, m.Policies, webhookMutate, req, r, m.EvalTimeout)
	if done {
		return resp
	}
	// A value podguard cannot read gets no default next to it (its cap is unknown); the
	// author learns why here, and the validating webhook refuses the Pod for it.
	warnings := verdict.Object.Unreadable()
	for i := range warnings {
		warnings[i] += "; podguard added no default that depends on it"
	}
	if len(verdict.Additions) == 0 {
		logf.FromContext(ctx).V(1).Info("allowed without evaluation", reviewValues(req, "reason", "nothing to add")...)
		decisions.WithLabelValues(webhookMutate, operationLabel(req.Operation), "skip").Inc()
		return admission.Allowed("nothing to add").WithWarnings(warnings...)
	}
	patchType := admissionv1.PatchTypeJSONPatch
	resp = admission.Allowed("").WithWarnings(warnings...)
	resp.Patch, resp.PatchType = verdict.Patch, &patchType
	fields := make([]string, len(verdict.Additions))
	for i, a := range verdict.Additions {
		fields[i] = a.Field(verdict.Object) + "=" + a.Value
	}
	logf.FromContext(ctx).Info("defaulted", reviewValues(req, "added", fields)...)
	decisions.WithLabelValues(webhookMutate, operationLabel(req.Operation), "patched").Inc()
	return resp
}

// respond turns a verdict into the admission response and records it.
func respond(ctx context.Context, req Request, verdict engine.Verdict) admission.Response {
	obj, d, existing := verdict.Object, verdict.Decision, verdict.Existing
	log := logf.FromContext(ctx)
	for _, list := range [][]engine.Violation{d.Deny, d.Warn, d.Audit, d.Excepted} {
		// Counted by runs of one rule (the lists are sorted by rule): finding a series
		// costs more than adding to it.
		for i := 0; i < len(list); {
			n := 1
			for i+n < len(list) && list[i+n].Rule == list[i].Rule && list[i+n].Enforcement == list[i].Enforcement {
				n++
			}
			violations.WithLabelValues(webhookValidate, list[i].Rule, list[i].Enforcement).Add(float64(n))
			i += n
		}
	}
	// A Pod made by a controller is fixed in its owner's template; say which one.
	owned := ""
	if _, kind, name := obj.Owner(); kind != "" {
		owned = fmt.Sprintf(" (Pod created by %s %s: fix its pod template)", kind, name)
	}
	var warnings []string
	if n := len(d.Warn) + len(existing); n > 0 {
		warnings = make([]string, 0, n)
	}
	for _, v := range d.Warn {
		warnings = append(warnings, v.String()+owned)
	}
	for _, v := range existing {
		warnings = append(warnings, v.String()+" (already present before this update, not blocking)")
	}
	if len(d.Excepted) > 0 {
		// An exception is the admin's; admission says each time what it let through and why.
		log.Info("excepted violations", reviewValues(req, "kind", obj.Kind, "rules", ruleIDs(d.Excepted), "violations", lines(d.Excepted, ""))...)
	}
	if len(d.Audit) > 0 {
		log.Info("audit violations", reviewValues(req, "kind", obj.Kind, "rules", ruleIDs(d.Audit), "violations", lines(d.Audit, ""))...)
	}
	if len(d.Deny) > 0 {
		log.Info("denied", reviewValues(req, "kind", obj.Kind, "decision", "deny", "rules", ruleIDs(d.Deny))...)
		decisions.WithLabelValues(webhookValidate, operationLabel(req.Operation), "deny").Inc()
		return admission.Denied(lines(d.Deny, owned)).WithWarnings(warnings...)
	}
	decision := "allow"
	if len(warnings) > 0 {
		decision = "warn"
	}
	log.Info("allowed", reviewValues(req, "kind", obj.Kind, "decision", decision, "rules", ruleIDs(append(d.Warn, existing...)))...)
	decisions.WithLabelValues(webhookValidate, operationLabel(req.Operation), decision).Inc()
	return admission.Allowed("").WithWarnings(warnings...)
}

// overDeadline names the deadline in the error of an evaluation it stopped; OPA's own
// message only says that something was cancelled.
func overDeadline(ctx context.Context, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("policy evaluation did not finish within --eval-timeout %s: %w", timeout, err)
	}
	return err
}

func allowed(ctx context.Context, hook string, req Request, reason string) admission.Response {
	logf.FromContext(ctx).V(1).Info("allowed without evaluation", reviewValues(req, "reason", reason)...)
	decisions.WithLabelValues(hook, operationLabel(req.Operation), "skip").Inc()
	return admission.Allowed(reason)
}

func errored(ctx context.Context, hook string, req Request, code int32, err error) admission.Response {
	logf.FromContext(ctx).Error(err, "request failed", reviewValues(req, "code", code)...)
	decisions.WithLabelValues(hook, operationLabel(req.Operation), "error").Inc()
	return admission.Errored(code, err)
}

// lines is one line per violation, each followed by suffix.
func lines(vs []engine.Violation, suffix string) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteByte('\n')
		}
		v.WriteTo(&b)
		b.WriteString(suffix)
	}
	return b.String()
}

// reviewValues are the values that name a review in its log lines, then kv.
func reviewValues(req Request, kv ...any) []any {
	return append([]any{
		"object", klog.KRef(req.Namespace, req.Name), "namespace", req.Namespace, "name", req.Name,
		"resource", req.Resource, "user", req.UserInfo.Username, "requestID", req.UID,
	}, kv...)
}

func ruleIDs(vs []engine.Violation) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vs {
		if !seen[v.Rule] {
			seen[v.Rule] = true
			out = append(out, v.Rule)
		}
	}
	return out
}
