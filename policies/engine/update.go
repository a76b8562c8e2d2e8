package engine

import (
	"strconv"
	"strings"
)

// splitExisting separates the violations of an UPDATE's new object o into those it adds
// and those its old object already had (before, judged on old). A violation is already
// present when the old one has the same rule, field and message, and the same value
// read at that field: a message shows a value over 64 characters shortened, so two
// different values can read the same, and an UPDATE that makes a violation worse must
// not pass for one that keeps it.
func splitExisting(now []Violation, o *Object, before []Violation, old *Object) (added, existing []Violation) {
	had := make(map[updateKey]bool, len(before))
	for _, v := range before {
		had[old.updateKey(v)] = true
	}
	for _, v := range now {
		if had[o.updateKey(v)] {
			existing = append(existing, v)
		} else {
			added = append(added, v)
		}
	}
	return added, existing
}

type updateKey struct{ rule, field, message, value string }

func (o *Object) updateKey(v Violation) updateKey {
	return updateKey{v.Rule, v.Field, v.Message, o.valueAt(v.Field)}
}

// valueAt is the JSON text of the resource value the field names, as written in the
// object (spec.containers[0].resources.limits.memory, spec.resources.requests.cpu, and the
// same under a workload's template); "" when the field names no value that is set.
func (o *Object) valueAt(field string) string {
	rest, ok := strings.CutPrefix(field, o.prefixPath+"spec.")
	if !ok {
		return ""
	}
	resources := &o.pod.resources
	if r, ok := strings.CutPrefix(rest, "resources."); ok {
		rest = r
	} else {
		typ, after, ok := strings.Cut(rest, "[")
		index, after, ok2 := strings.Cut(after, "]")
		if !ok || !ok2 {
			return ""
		}
		i, err := strconv.Atoi(index)
		if err != nil {
			return ""
		}
		resources = nil
		for k := range o.pod.containers {
			if c := &o.pod.containers[k]; c.typ == typ && c.index == i {
				resources = &c.resources
			}
		}
		if rest, ok = strings.CutPrefix(after, ".resources."); !ok || resources == nil {
			return ""
		}
	}
	section, name, _ := strings.Cut(rest, ".")
	if section != "requests" && section != "limits" {
		return ""
	}
	if v := get(*resources.section(section), name); v != nil {
		return v.raw
	}
	return ""
}
