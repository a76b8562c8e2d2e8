package engine

import (
	"context"
	"errors"
	"fmt"
)

// Operation is what a request does to its object, as admission names it.
type Operation string

// The operations of admission.k8s.io/v1.
const (
	Create  Operation = "CREATE"
	Update  Operation = "UPDATE"
	Delete  Operation = "DELETE"
	Connect Operation = "CONNECT"
)

// Source is where a reviewed object comes from, which decides how far through admission
// it is when it is judged.
type Source int

const (
	// Admission is a request of the API server. A Pod arrives with every default applied
	// (the API server's, the LimitRanges', podguard's mutation) and is judged as it is; a
	// workload is judged by its pod template as the Pod it will become, with those
	// defaults applied first.
	Admission Source = iota
	// Manifest is a manifest as written (podguard eval): every kind is judged with the
	// defaults it will get, and the verdict explains which violations the defaults fill
	// in or cause (Findings) and, for a Pod, what the cluster would store (Mutated).
	Manifest
	// Stored is an object in the cluster (podguard audit): judged as Admission judges
	// it, except that an object made by a controller podguard judges is left to the
	// verdict on that controller.
	Stored
	// Written judges the object exactly as given, with no defaults: for comparing
	// verdicts with tools that judge objects so.
	Written
)

// Request is one review: an admission request, a manifest or a stored object.
type Request struct {
	Source Source
	// Mutate asks for podguard's defaults (the mutating webhook) instead of a decision.
	Mutate    bool
	Operation Operation
	// Group, Version and Kind are the kind the request names (request.kind); when Kind
	// is "", the object's own.
	Group, Version, Kind string
	// Resource and SubResource are what the request addresses ("pods", "resize").
	Resource, SubResource string
	// Namespace is the request's namespace; an object that names none is in it.
	Namespace string
	// Object and OldObject are the objects' JSON (OldObject on UPDATE), which Review
	// reads in place.
	Object, OldObject Body
	// Cluster tells what the cluster knows of the namespace; nil knows nothing.
	Cluster Cluster
}

// Cluster is what the cluster knows about namespaces that bears on a decision.
type Cluster interface {
	// Namespace returns a namespace's labels, and its LimitRanges when limitRanges is
	// set (they matter only to objects that have yet to get their defaults).
	Namespace(ctx context.Context, name string, limitRanges bool) (Namespace, error)
}

// Namespaces is a Cluster that knows the namespaces it holds, by name.
type Namespaces map[string]Namespace

// Namespace returns what n holds for name.
func (n Namespaces) Namespace(_ context.Context, name string, _ bool) (Namespace, error) {
	return n[name], nil
}

// Skip says why a request is allowed without evaluation.
type Skip int

// Reasons to allow a request without evaluation.
const (
	NotSkipped      Skip = iota
	SkipOperation        // DELETE, CONNECT; anything but a new Pod for the mutation
	SkipSubresource      // a subresource that changes nothing the rules read
	SkipKind             // a kind podguard does not judge
	SkipExempt           // the namespace is exempt (namespaces.exempt)
	SkipOwned            // Stored: made by a controller podguard judges
)

// Verdict is the answer to a Request.
type Verdict struct {
	// Skipped is NotSkipped when the object was judged; otherwise Reason says why not.
	Skipped Skip
	Reason  string
	// Object is the object judged.
	Object *Object
	// Decision holds the violations. On an UPDATE, Deny holds only those the update
	// adds; Existing those the old object had already, which do not block it.
	Decision Decision
	Existing []Violation
	// Findings (Manifest) are the violations of the object as written and those the
	// defaults bring in, each with what the defaults do to it.
	Findings []Finding
	// Additions are podguard's defaults: those the mutation adds (Mutate), or for a Pod
	// manifest, those the cluster would add. Patch (Mutate) is the JSON Patch that adds
	// them, nil when there are none; Mutated (Manifest) is the Pod as the cluster would
	// store it, with the cluster's defaults and podguard's filled in.
	Additions []Addition
	Patch     []byte
	Mutated   []byte
}

// ObjectError is a request whose object cannot be read: the caller's to fix, not a
// failure of the policies.
type ObjectError struct{ Err error }

func (e *ObjectError) Error() string { return e.Err.Error() }
func (e *ObjectError) Unwrap() error { return e.Err }

// judgedSubresources are the subresources of a Pod that change what the rules read: a debug
// container's image (ephemeralcontainers), and the containers' resources of a running Pod
// (resize, in-place, since Kubernetes 1.35). Each arrives as an UPDATE of the whole Pod.
var judgedSubresources = map[string]bool{"ephemeralcontainers": true, "resize": true}

// Review decides a request: whether it is judged at all (its operation, subresource,
// kind, namespace and, for a stored object, its owner), at which stage of admission its
// object is judged, and on UPDATE which violations the update adds. Errors reading an
// object are *ObjectError; any other error is the policies' and must never read as
// "allowed".
func (e *Engine) Review(ctx context.Context, r Request) (Verdict, error) {
	if skip, reason := e.skip(r); skip != NotSkipped {
		return Verdict{Skipped: skip, Reason: reason}, nil
	}
	o, err := read(r.Object, r.Namespace, "")
	if err != nil {
		var unsupported *unsupportedError
		if r.Kind == "" && errors.As(err, &unsupported) {
			return Verdict{Skipped: SkipKind, Reason: fmt.Sprintf("podguard does not check %s %s", unsupported.apiVersion, unsupported.kind)}, nil
		}
		return Verdict{}, err
	}
	if r.Namespace == "" {
		if pattern, ok := e.cfg.Exempted(o.Namespace); ok {
			return Verdict{Skipped: SkipExempt, Reason: exemptReason(o.Namespace, pattern)}, nil
		}
	}
	v := Verdict{Object: o}
	if r.Mutate {
		if o.Kind != "Pod" {
			return Verdict{Skipped: SkipOperation, Reason: "podguard adds defaults only to new Pods"}, nil
		}
		v.Additions, v.Patch, err = e.mutate(ctx, o)
		return v, err
	}
	if r.Source == Stored {
		if apiVersion, kind, name := o.Owner(); Supported(Group(apiVersion), kind) {
			return Verdict{Skipped: SkipOwned, Reason: fmt.Sprintf("made by %s %s, whose pod template is judged", kind, name)}, nil
		}
	}
	var ns Namespace
	if r.Cluster != nil {
		if ns, err = r.Cluster.Namespace(ctx, o.Namespace, o.Kind != "Pod" || r.Source == Manifest); err != nil {
			return Verdict{}, err
		}
	}
	if r.Source == Manifest {
		err = e.explain(ctx, o, ns, &v)
		return v, err
	}
	v.Decision, err = e.decide(ctx, o, ns, r.Source)
	if err != nil || r.Operation != Update || len(v.Decision.Deny) == 0 || r.OldObject.Empty() {
		return v, err
	}
	// An update is refused only for what it makes worse: a label edit on a Pod that was
	// admitted before a rule existed must still go through.
	old, err := read(r.OldObject, r.Namespace, "old object: ")
	if err != nil {
		return Verdict{}, err
	}
	before, err := e.decide(ctx, old, ns, r.Source)
	if err != nil {
		return Verdict{}, err
	}
	v.Decision.Deny, v.Existing = splitExisting(v.Decision.Deny, o, before.Deny, old)
	return v, nil
}

// decide judges an object at the stage its source puts it at.
func (e *Engine) decide(ctx context.Context, o *Object, ns Namespace, source Source) (Decision, error) {
	if source == Written {
		return e.evaluate(ctx, o, ns, asWritten)
	}
	return e.judge(ctx, o, ns)
}

// skip says why a request is allowed without reading its object, or NotSkipped.
func (e *Engine) skip(r Request) (Skip, string) {
	if r.Mutate {
		// Resources of an existing Pod cannot change through an update, so only new
		// Pods get defaults; workloads get them on the Pods they create.
		if r.Operation != Create || r.SubResource != "" || r.Group != "" || (r.Kind != "" && r.Kind != "Pod") {
			return SkipOperation, "podguard adds defaults only to new Pods"
		}
	}
	if r.Operation != Create && r.Operation != Update {
		return SkipOperation, fmt.Sprintf("podguard does not check %s", r.Operation)
	}
	if r.SubResource != "" && !(r.Resource == "pods" && judgedSubresources[r.SubResource]) {
		return SkipSubresource, fmt.Sprintf("podguard does not check the %s subresource", r.SubResource)
	}
	// A registration that sends more kinds than podguard judges must not block them.
	if r.Kind != "" && !Supported(r.Group, r.Kind) {
		gv := r.Version
		if r.Group != "" {
			gv = r.Group + "/" + r.Version
		}
		return SkipKind, fmt.Sprintf("podguard does not check %s %s", gv, r.Kind)
	}
	if r.Namespace != "" {
		if pattern, ok := e.cfg.Exempted(r.Namespace); ok {
			return SkipExempt, exemptReason(r.Namespace, pattern)
		}
	}
	return NotSkipped, ""
}

func exemptReason(namespace, pattern string) string {
	return fmt.Sprintf("namespace %s is exempt from podguard (namespaces.exempt: %s)", namespace, pattern)
}

// read decodes one of the request's objects; the namespace is the request's when the
// object omits it, as it does on CREATE.
func read(raw Body, namespace, what string) (*Object, error) {
	if raw.Empty() {
		return nil, &ObjectError{fmt.Errorf("%sthe request carries no object (request.object is null or missing)", what)}
	}
	o, err := decodeText(raw.text)
	if err != nil {
		return nil, &ObjectError{fmt.Errorf("%s%w", what, err)}
	}
	if o.Namespace == "" {
		o.Namespace = namespace
	}
	return o, nil
}
