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

violation := lib.resource_violations("resources-limits", "limits") | _ratio_violations

# Checked only when both values are set: a missing one is reported on its own. Comparing
# limit > ratio * request instead of dividing keeps a zero request from failing the check
# (a limit over a zero request has an unbounded ratio, as in a LimitRange).
_ratio_violations contains v if {
	some resource, ratio in object.get(_config, "maxLimitRequestRatio", {})
	some c in lib.with_resources(object.get(_config, "containerTypes", ["containers", "initContainers"]))
	limit := lib.resource(c, "limits", resource)
	request := lib.resource(c, "requests", resource)
	limit.number > lib.config_quantity(ratio) * request.number
	v := {
		"msg": sprintf("%s limit %s is more than %v times the request %s", [
			resource,
			lib.show_quantity(limit.value), ratio,
			lib.show_quantity(request.value),
		]),
		"field": lib.resource_field(c, "limits", resource),
		"container": c.name,
		"fix": sprintf("lower resources.limits.%s to at most %v times resources.requests.%s, or raise the request", [
			resource, ratio,
			resource,
		]),
	}
}

# A ratio that cannot be checked is not taken for one that holds: the limit's own rule
# reports a limit it cannot read, and this one a request it cannot read.
_ratio_violations contains v if {
	some resource, _ in object.get(_config, "maxLimitRequestRatio", {})
	some c in lib.with_resources(object.get(_config, "containerTypes", ["containers", "initContainers"]))
	lib.resource(c, "limits", resource)
	request := lib.resource(c, "requests", resource)
	request.error
	v := {
		"msg": sprintf("%s limit cannot be compared with the request %s, which %s", [
			resource,
			lib.show_quantity(request.value), request.error,
		]),
		"field": lib.resource_field(c, "requests", resource),
		"container": c.name,
		"fix": sprintf("write resources.requests.%s as a quantity such as 500m, 2 or 256Mi", [resource]),
	}
}
