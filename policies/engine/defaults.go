package engine

import "context"

// ManifestDefaults returns the defaults podguard's mutation would add to the Pods of a manifest
// (r.Source Manifest): for a Pod, what the mutating webhook adds when it arrives with the
// cluster's defaults applied; for a workload, what it adds to each Pod of its template.
// Field places each one in the object. A manifest Review skips gets none.
func (e *Engine) ManifestDefaults(ctx context.Context, r Request) ([]Addition, *Object, error) {
	if skip, _ := e.skip(r); skip != NotSkipped {
		return nil, nil, nil
	}
	o, err := read(r.Object, r.Namespace, "")
	if err != nil {
		return nil, nil, err
	}
	if _, exempt := e.cfg.Exempted(o.Namespace); exempt {
		return nil, o, nil
	}
	var ns Namespace
	if r.Cluster != nil {
		if ns, err = r.Cluster.Namespace(ctx, o.Namespace, true); err != nil {
			return nil, nil, err
		}
	}
	adds, err := e.additions(ctx, o, ns, withClusterDefaults)
	return adds, o, err
}
