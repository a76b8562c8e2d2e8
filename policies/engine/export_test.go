package engine

import (
	"context"
	"encoding/json"
	"fmt"
)

// The stages of a review, for the tests that hold each stage of both evaluators to the
// same answers (FuzzEvaluators) and check what each stage adds.

type Stage = stage

const (
	AsWritten           = asWritten
	WithClusterDefaults = withClusterDefaults
	AsAdmitted          = asAdmitted
)

func (e *Engine) Judge(ctx context.Context, o *Object, ns Namespace) (Decision, error) {
	return e.judge(ctx, o, ns)
}

func (e *Engine) Evaluate(ctx context.Context, o *Object, ns Namespace, s Stage) (Decision, error) {
	return e.evaluate(ctx, o, ns, s)
}

func (e *Engine) Defaults(ctx context.Context, o *Object, ns Namespace, s Stage) ([]Addition, error) {
	return e.additions(ctx, o, ns, s)
}

// Mutate returns the object with podguard's patch applied, its own JSON when there is
// none.
func (e *Engine) Mutate(ctx context.Context, o *Object) ([]byte, []Addition, error) {
	adds, patch, err := e.mutate(ctx, o)
	if err != nil || patch == nil {
		return o.JSON(), adds, err
	}
	out, err := applyPatch(o.JSON(), patch)
	return out, adds, err
}

func (e *Engine) Admitted(ctx context.Context, o *Object, ns Namespace) ([]byte, []Addition, error) {
	return e.admitted(ctx, o, ns)
}

// Decode reads one Kubernetes object in JSON. Kinds podguard does not judge are an error.
func Decode(raw []byte) (*Object, error) {
	return decodeText(string(raw))
}

// FromMap reads an object already decoded into Go values (from YAML or a client's list).
func FromMap(m map[string]any) (*Object, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding object: %w", err)
	}
	return decode(string(b))
}

// Fingerprint is the revision the policy files and configuration would have if loaded
// now. It only reads files, so a watcher can call it often and load only on change.
func Fingerprint(opts Options) (string, error) {
	s, err := ReadSnapshot(opts)
	if err != nil {
		return "", err
	}
	return s.Revision(), nil
}

// BodyString is a Body of text, which a string cannot change.
func BodyString(text string) Body { return Body{text} }
