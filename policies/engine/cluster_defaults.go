package engine

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// WithClusterDefaults returns a copy of the object with the resource defaults the API
// server applies before any webhook sees a Pod: a missing request takes the container's
// limit, then the namespace's LimitRange fills in its default limits and default
// requests. A workload's template has had none of this yet; its Pods will.
func WithClusterDefaults(o *Object, limitRanges []corev1.LimitRange) *Object {
	out := o.DeepCopy()
	spec, _ := out.template["spec"].(map[string]any)
	for _, list := range []string{"containers", "initContainers"} {
		cs, _ := spec[list].([]any)
		for _, c := range cs {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			applyContainerDefaults(m, limitRanges)
		}
	}
	return out
}

func applyContainerDefaults(c map[string]any, limitRanges []corev1.LimitRange) {
	res, hasRes := c["resources"].(map[string]any)
	if !hasRes {
		res = map[string]any{}
	}
	limits, _ := res["limits"].(map[string]any)
	requests, _ := res["requests"].(map[string]any)
	set := func(section string, m *map[string]any, name corev1.ResourceName, value string) {
		if *m == nil {
			*m = map[string]any{}
			res[section] = *m
		}
		if v, ok := (*m)[string(name)]; ok && v != "" {
			return
		}
		(*m)[string(name)] = value
	}
	// API defaulting: requests default to limits.
	for name, v := range limits {
		set("requests", &requests, corev1.ResourceName(name), toString(v))
	}
	for _, lr := range limitRanges {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			def, defReq := itemDefaults(item)
			for name, q := range def {
				set("limits", &limits, name, q.String())
			}
			for name, q := range defReq {
				set("requests", &requests, name, q.String())
			}
		}
	}
	if len(res) > 0 && !hasRes {
		c["resources"] = res
	}
}

// itemDefaults applies the LimitRange object's own defaulting, which a stored object has
// already had but a manifest read from a file has not: default falls back to max, and
// defaultRequest to default.
func itemDefaults(item corev1.LimitRangeItem) (def, defReq corev1.ResourceList) {
	def = corev1.ResourceList{}
	for name, q := range item.Default {
		def[name] = q
	}
	for name, q := range item.Max {
		if _, ok := def[name]; !ok {
			def[name] = q
		}
	}
	defReq = corev1.ResourceList{}
	for name, q := range item.DefaultRequest {
		defReq[name] = q
	}
	for name, q := range def {
		if _, ok := defReq[name]; !ok {
			defReq[name] = q
		}
	}
	return def, defReq
}

func toString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case interface{ String() string }:
		return t.String()
	}
	return ""
}

// AsAdmitted returns the object as the cluster would store its Pods: the API server's and
// the LimitRanges' defaults first, then podguard's own. The additions are podguard's.
func (e *Engine) AsAdmitted(ctx context.Context, o *Object, limitRanges []corev1.LimitRange) (*Object, []Addition, error) {
	return e.Mutate(ctx, WithClusterDefaults(o, limitRanges))
}
