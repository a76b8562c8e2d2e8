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
	"k8s.io/apimachinery/pkg/runtime/schema"
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
func checkReview(_ context.Context, req admission.Request) error {
	if req.UID == "" {
		if req.Operation == "" && req.Kind.Kind == "" && len(req.Object.Raw) == 0 {
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

// judgedSubresources are the subresources of a Pod that change what the rules read: a debug
// container's image (ephemeralcontainers), and the containers' resources of a running Pod
// (resize, in-place, since Kubernetes 1.35). Each arrives as an UPDATE of the whole Pod.
var judgedSubresources = map[string]bool{"ephemeralcontainers": true, "resize": true}

// skip says why a request is allowed without evaluation, or "" when it must be evaluated.
func skip(req admission.Request, e *engine.Engine) string {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return fmt.Sprintf("podguard does not check %s", req.Operation)
	}
	if req.SubResource != "" && !(req.Resource.Resource == "pods" && judgedSubresources[req.SubResource]) {
		return fmt.Sprintf("podguard does not check the %s subresource", req.SubResource)
	}
	if pattern, ok := e.Config().Exempted(req.Namespace); ok {
		return fmt.Sprintf("namespace %s is exempt from podguard (namespaces.exempt: %s)", req.Namespace, pattern)
	}
	return ""
}

// decode reads one of the request's objects; the namespace comes from the request when
// the object omits it, as it does on CREATE.
func decode(raw []byte, namespace string) (*engine.Object, error) {
	if len(raw) == 0 {
		return nil, errors.New("the request carries no object (request.object is null or missing)")
	}
	// A body is never written to once read: the object is read in place.
	o, err := engine.DecodeInPlace(raw)
	if err != nil {
		return nil, err
	}
	if o.Namespace == "" {
		o.Namespace = namespace
	}
	return o, nil
}

// Handle evaluates the object and denies, warns or allows.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	if err := checkReview(ctx, req); err != nil {
		return errored(ctx, webhookValidate, req, http.StatusBadRequest, err)
	}
	e := v.Policies.Get()
	if e == nil {
		return errored(ctx, webhookValidate, req, http.StatusInternalServerError, errNoPolicies)
	}
	if reason := skip(req, e); reason != "" {
		return allowed(ctx, webhookValidate, req, reason)
	}
	// A registration that sends more kinds than podguard judges must not block them.
	if !engine.Supported(req.Kind.Group, req.Kind.Kind) {
		return allowed(ctx, webhookValidate, req, fmt.Sprintf("podguard does not check %s %s", schema.GroupVersion{Group: req.Kind.Group, Version: req.Kind.Version}, req.Kind.Kind))
	}
	obj, err := decode(req.Object.Raw, req.Namespace)
	if err != nil {
		return errored(ctx, webhookValidate, req, http.StatusBadRequest, err)
	}
	ns, err := v.namespace(ctx, obj)
	if err != nil {
		return errored(ctx, webhookValidate, req, http.StatusInternalServerError, err)
	}
	ctx, cancel := context.WithTimeout(ctx, v.EvalTimeout)
	defer cancel()
	d, err := e.Judge(ctx, obj, ns)
	if err != nil {
		return errored(ctx, webhookValidate, req, http.StatusInternalServerError, overDeadline(ctx, v.EvalTimeout, err))
	}
	var kept []engine.Violation
	if req.Operation == admissionv1.Update && len(d.Deny) > 0 && len(req.OldObject.Raw) > 0 {
		// An update is refused only for what it makes worse: a label edit on a Pod that
		// was admitted before a rule existed must still go through.
		old, err := decode(req.OldObject.Raw, req.Namespace)
		if err != nil {
			return errored(ctx, webhookValidate, req, http.StatusBadRequest, fmt.Errorf("old object: %w", err))
		}
		od, err := e.Judge(ctx, old, ns)
		if err != nil {
			return errored(ctx, webhookValidate, req, http.StatusInternalServerError, overDeadline(ctx, v.EvalTimeout, err))
		}
		d.Deny, kept = splitExisting(d.Deny, od.Deny)
	}
	evalDuration.WithLabelValues(webhookValidate).Observe(time.Since(start).Seconds())
	return respond(ctx, req, obj, d, kept)
}

// namespace is what the cluster says about the object's namespace: its labels, which
// namespace overrides select on, and for a workload its LimitRanges, whose defaults the
// workload's Pods will get. (A Pod arrives with them applied already.)
func (v *Validator) namespace(ctx context.Context, obj *engine.Object) (engine.Namespace, error) {
	var ns engine.Namespace
	if v.Cluster == nil {
		return ns, nil
	}
	var err error
	if ns.Labels, err = v.Cluster.NamespaceLabels(ctx, obj.Namespace); err != nil {
		return ns, err
	}
	if obj.Kind != "Pod" {
		if ns.LimitRanges, err = v.Cluster.For(ctx, obj.Namespace); err != nil {
			return ns, err
		}
	}
	return ns, nil
}

// splitExisting separates the violations already present in the old object.
func splitExisting(now, before []engine.Violation) (added, existing []engine.Violation) {
	old := make(map[string]bool, len(before))
	for _, v := range before {
		old[v.Key()] = true
	}
	for _, v := range now {
		if old[v.Key()] {
			existing = append(existing, v)
		} else {
			added = append(added, v)
		}
	}
	return added, existing
}

// Handle fills in the missing defaults of a new Pod.
func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	if err := checkReview(ctx, req); err != nil {
		return errored(ctx, webhookMutate, req, http.StatusBadRequest, err)
	}
	e := m.Policies.Get()
	if e == nil {
		return errored(ctx, webhookMutate, req, http.StatusInternalServerError, errNoPolicies)
	}
	// Resources of an existing Pod cannot change through an update, so only new Pods
	// get defaults; workloads get them on the Pods they create.
	if req.Operation != admissionv1.Create || req.SubResource != "" || req.Kind.Group != "" || req.Kind.Kind != "Pod" {
		return allowed(ctx, webhookMutate, req, "podguard adds defaults only to new Pods")
	}
	if reason := skip(req, e); reason != "" {
		return allowed(ctx, webhookMutate, req, reason)
	}
	obj, err := decode(req.Object.Raw, req.Namespace)
	if err != nil {
		return errored(ctx, webhookMutate, req, http.StatusBadRequest, err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.EvalTimeout)
	defer cancel()
	out, adds, err := e.Mutate(ctx, obj)
	if err != nil {
		return errored(ctx, webhookMutate, req, http.StatusInternalServerError, overDeadline(ctx, m.EvalTimeout, err))
	}
	evalDuration.WithLabelValues(webhookMutate).Observe(time.Since(start).Seconds())
	// A value podguard cannot read gets no default next to it (its cap is unknown); the
	// author learns why here, and the validating webhook refuses the Pod for it.
	warnings := obj.Unreadable()
	for i := range warnings {
		warnings[i] += "; podguard added no default that depends on it"
	}
	if len(adds) == 0 {
		logf.FromContext(ctx).V(1).Info("allowed without evaluation", reviewValues(req, "reason", "nothing to add")...)
		decisions.WithLabelValues(webhookMutate, operationLabel(req.Operation), "skip").Inc()
		return admission.Allowed("nothing to add").WithWarnings(warnings...)
	}
	resp := admission.PatchResponseFromRaw(req.Object.Raw, out).WithWarnings(warnings...)
	fields := make([]string, len(adds))
	for i, a := range adds {
		fields[i] = a.Field(obj) + "=" + a.Value
	}
	logf.FromContext(ctx).Info("defaulted", reviewValues(req, "added", fields)...)
	decisions.WithLabelValues(webhookMutate, operationLabel(req.Operation), "patched").Inc()
	return resp
}

// respond turns a decision into the admission response and records it.
func respond(ctx context.Context, req admission.Request, obj *engine.Object, d engine.Decision, existing []engine.Violation) admission.Response {
	log := logf.FromContext(ctx)
	for _, list := range [][]engine.Violation{d.Deny, d.Warn, d.Audit} {
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

func allowed(ctx context.Context, hook string, req admission.Request, reason string) admission.Response {
	logf.FromContext(ctx).V(1).Info("allowed without evaluation", reviewValues(req, "reason", reason)...)
	decisions.WithLabelValues(hook, operationLabel(req.Operation), "skip").Inc()
	return admission.Allowed(reason)
}

func errored(ctx context.Context, hook string, req admission.Request, code int32, err error) admission.Response {
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
func reviewValues(req admission.Request, kv ...any) []any {
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
