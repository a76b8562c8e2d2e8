package engine

import "context"

// Finding is a violation of a manifest as written, or one its defaults bring in, with
// what the defaults do to it.
type Finding struct {
	Violation
	// Defaulted is true when defaults fill the gap, so the cluster would not refuse the
	// manifest for it; FilledBy says whose: "kubernetes" (the namespace's LimitRange, or
	// requests taken from limits) or "podguard" (its mutation defaults).
	Defaulted bool   `json:"defaulted"`
	FilledBy  string `json:"filledBy,omitempty"`
	// CausedBy is set for a violation the manifest as written does not have, which a
	// default brings in (a default limit above the configured maximum, say): whose
	// default, "kubernetes" or "podguard".
	CausedBy string `json:"causedBy,omitempty"`
}

// Note says what defaults do to the finding when the manifest is admitted, or "".
func (f Finding) Note() string {
	switch {
	case f.FilledBy == "podguard":
		return "filled in by podguard's defaults"
	case f.FilledBy == "kubernetes":
		return "filled in by Kubernetes: LimitRange defaults or requests from limits"
	case f.CausedBy == "podguard":
		return "caused by podguard's defaults, when the manifest is admitted"
	case f.CausedBy == "kubernetes":
		return "caused by Kubernetes' defaults (LimitRange defaults or requests from limits), when the manifest is admitted"
	}
	return ""
}

// explain judges a manifest as written, with the cluster's defaults, and as admitted
// (podguard's defaults too): a violation of the first that is gone from the next is one
// that defaults fill in, and one that appears only as admitted is caused by a default.
// The decision is the one on the object as admitted.
func (e *Engine) explain(ctx context.Context, o *Object, ns Namespace, v *Verdict) error {
	var decisions [3]Decision
	for i, s := range []stage{asWritten, withClusterDefaults, asAdmitted} {
		d, err := e.evaluate(ctx, o, ns, s)
		if err != nil {
			return err
		}
		decisions[i] = d
	}
	written, cluster, admitted := keys(decisions[0]), keys(decisions[1]), keys(decisions[2])
	v.Findings = []Finding{}
	for _, x := range decisions[0].All() {
		f := Finding{Violation: x}
		switch {
		case !cluster[x.key()]:
			f.Defaulted, f.FilledBy = true, "kubernetes"
		case !admitted[x.key()]:
			f.Defaulted, f.FilledBy = true, "podguard"
		}
		v.Findings = append(v.Findings, f)
	}
	for _, x := range decisions[2].All() {
		if written[x.key()] {
			continue
		}
		f := Finding{Violation: x, CausedBy: "podguard"}
		if cluster[x.key()] {
			f.CausedBy = "kubernetes"
		}
		v.Findings = append(v.Findings, f)
	}
	v.Decision = decisions[2]
	if o.Kind == "Pod" {
		var err error
		if v.Mutated, v.Additions, err = e.admitted(ctx, o, ns); err != nil {
			return err
		}
	}
	return nil
}

// keys are the violations of a decision, by Violation.key.
func keys(d Decision) map[string]bool {
	m := map[string]bool{}
	for _, v := range d.All() {
		m[v.key()] = true
	}
	return m
}
