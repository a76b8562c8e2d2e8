package engine

import "context"

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
