package engine

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// withClusterDefaults returns the facts of the Pod as the API server stores it before any
// webhook sees it, and what that added: a missing request takes the container's limit
// (SetDefaults_Pod), then the namespace's LimitRanges fill in their default limits and
// requests (the LimitRanger admission plugin). A workload's template has had none of this
// yet; its Pods will. The facts given are not changed.
func (f *podFacts) withClusterDefaults(limitRanges []corev1.LimitRange) (podFacts, []Addition) {
	out := *f
	out.containers = slices.Clone(f.containers)
	limits, requests := limitRangeDefaults(limitRanges)
	var added []Addition
	for i := range out.containers {
		c := &out.containers[i]
		if c.typ == "ephemeralContainers" {
			continue
		}
		c.resources = resourceFacts{requests: slices.Clone(c.resources.requests), limits: slices.Clone(c.resources.limits)}
		set := func(section string, v resourceValue) {
			values := c.resources.section(section)
			if get(*values, v.name) != nil {
				return
			}
			*values = append(*values, v)
			added = append(added, Addition{
				ContainerType: c.typ, Index: c.index, Container: c.name,
				Section: section, Resource: v.name, Value: v.text(),
			})
		}
		for _, limit := range f.containers[i].resources.limits {
			set("requests", limit)
		}
		for _, v := range limits {
			set("limits", v)
		}
		for _, v := range requests {
			set("requests", v)
		}
	}
	return out, added
}

// limitRangeDefaults are the default limits and requests of a namespace's LimitRanges, in
// the order the LimitRanger applies them: the first LimitRange that sets a resource wins,
// and within one, the last of its container items.
func limitRangeDefaults(limitRanges []corev1.LimitRange) (limits, requests []resourceValue) {
	for _, lr := range limitRanges {
		var lrLimits, lrRequests corev1.ResourceList
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			def, defReq := itemDefaults(item)
			lrLimits = merged(lrLimits, def)
			lrRequests = merged(lrRequests, defReq)
		}
		limits = appendNew(limits, lrLimits)
		requests = appendNew(requests, lrRequests)
	}
	return limits, requests
}

func merged(base, over corev1.ResourceList) corev1.ResourceList {
	if base == nil {
		base = corev1.ResourceList{}
	}
	for k, v := range over {
		base[k] = v
	}
	return base
}

// appendNew adds the quantities of list whose resource is not in values yet, in a stable
// order.
func appendNew(values []resourceValue, list corev1.ResourceList) []resourceValue {
	names := make([]string, 0, len(list))
	for name := range list {
		names = append(names, string(name))
	}
	slices.Sort(names)
	for _, name := range names {
		if get(values, name) == nil {
			q := list[corev1.ResourceName(name)]
			values = append(values, readResourceValue(name, strconv.Quote(q.String())))
		}
	}
	return values
}

// itemDefaults applies the API server's defaulting of a LimitRange item
// (SetDefaults_LimitRangeItem), which a stored LimitRange has had but one read from a file
// has not: the default limit falls back to max, the default request to the default limit,
// and then to min.
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
	for name, q := range item.Min {
		if _, ok := defReq[name]; !ok {
			defReq[name] = q
		}
	}
	return def, defReq
}

// text is the value as a patch writes it: a string's text, or a number's.
func (v resourceValue) text() string {
	if len(v.raw) >= 2 && v.raw[0] == '"' {
		if s, err := unquote(v.raw); err == nil {
			return s
		}
	}
	return v.raw
}
