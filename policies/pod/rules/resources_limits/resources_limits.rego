# METADATA
# scope: package
# title: Resource limits
# description: |
#   Every container and init container limits the listed resources (default cpu and
#   memory), so one container cannot starve its neighbours on the node. Optional min and
#   max bound the limits, and maxLimitRequestRatio bounds how far a limit may exceed its
#   request. Ephemeral containers cannot have resources and are skipped.
# related_resources:
#   - ref: https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/
#     description: Resource Management for Pods and Containers
#   - ref: https://kubernetes.io/docs/concepts/policy/limit-range/
#     description: Limit Ranges (maxLimitRequestRatio)
# custom:
#   id: resources-limits
package pod.rules.resources_limits

import data.pod.lib

_config := lib.rule_config("resources-limits")

violation contains v if {
	some v in lib.resource_violations("resources-limits", "limits")
}

# Checked only when both values are set: a missing one is reported on its own. Comparing
# limit > ratio * request instead of dividing keeps a zero request from failing the check
# (a limit over a zero request has an unbounded ratio, as in a LimitRange).
violation contains v if {
	some resource, ratio in object.get(_config, "maxLimitRequestRatio", {})
	types := object.get(_config, "containerTypes", ["containers", "initContainers"])
	some [type, i, container] in lib.container_entries
	type in types
	type != "ephemeralContainers"
	limit := lib.resource_value(container, "limits", resource)
	request := lib.resource_value(container, "requests", resource)
	lib.quantity(limit) > lib.quantity(ratio) * lib.quantity(request)
	v := {
		"msg": sprintf("%s limit %s is more than %v times the request %s", [
			resource,
			lib.show_quantity(limit), ratio,
			lib.show_quantity(request),
		]),
		"field": sprintf("%s.resources.limits.%s", [lib.container_path(type, i), resource]),
		"container": lib.container_name(container),
		"fix": sprintf("lower resources.limits.%s to at most %v times resources.requests.%s, or raise the request", [
			resource, ratio,
			resource,
		]),
	}
}
