package engine

import (
	"context"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// mutate returns podguard's missing defaults, and the JSON Patch that fills them in (nil
// when there are none). It never changes a value that is set, so running it on its
// output adds nothing.
func (e *Engine) mutate(ctx context.Context, o *Object) ([]Addition, []byte, error) {
	adds, err := e.additions(ctx, o, Namespace{}, asWritten)
	if err != nil || len(adds) == 0 {
		return nil, nil, err
	}
	patch, err := o.patch(nil, adds)
	return adds, patch, err
}

// admitted returns the object as the cluster would store it: the API server's and the
// LimitRanges' defaults, then podguard's, filled in; and podguard's additions.
func (e *Engine) admitted(ctx context.Context, o *Object, ns Namespace) ([]byte, []Addition, error) {
	_, cluster := o.pod.withClusterDefaults(ns.LimitRanges)
	adds, err := e.additions(ctx, o, ns, withClusterDefaults)
	if err != nil {
		return nil, nil, err
	}
	patch, err := o.patch(cluster, adds)
	if err != nil || patch == nil {
		return o.JSON(), adds, err
	}
	out, err := applyPatch(o.JSON(), patch)
	return out, adds, err
}

// applyPatch applies a patch of o.patch to the object's JSON: what the API server does
// with the mutating webhook's answer.
func applyPatch(doc, patch []byte) ([]byte, error) {
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	return out, nil
}
