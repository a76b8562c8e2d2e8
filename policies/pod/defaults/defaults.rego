# METADATA
# scope: package
# title: Mutation defaults
# description: |
#   The resource requests and limits the mutating webhook adds to containers and init
#   containers that lack them, from config.defaults.resources. Only missing values are added
#   (null and "" count as missing) and a value the user set is never changed. An added value
#   never makes the container invalid: an added limit is never below the request, and an
#   added request never above the limit. Ephemeral containers cannot have resources.
#   Applying the additions and evaluating again yields no additions.
# related_resources:
#   - ref: https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/
#     description: Resource Management for Pods and Containers
package pod.defaults

import data.pod.lib

_defaults := object.get(lib.config, ["defaults", "resources"], {})

# METADATA
# description: |
#   One object per value to add:
#   {"containerType", "index", "container", "section", "resource", "value"},
#   where containerType is "containers" or "initContainers" and section "requests" or "limits".
additions contains addition if {
	some [type, i, container] in lib.container_entries
	type in {"containers", "initContainers"}
	some section in ["requests", "limits"]
	some resource, default_value in object.get(_defaults, section, {})
	not default_value in {null, ""}

	# As not lib.resource_value(...): missing, null and "" all mean "not set".
	object.get(container, ["resources", section, resource], null) in {null, ""}
	addition := {
		"containerType": type,
		"index": i,
		"container": lib.container_name(container),
		"section": section,
		"resource": resource,
		"value": _value(container, section, resource),
	}
}

_value(container, "requests", resource) := _request_value(container, resource)

_value(container, "limits", resource) := _limit_value(container, resource)

# Capped by the limit the container has, or else by the limit we add alongside.
_request_value(container, resource) := limit if {
	limit := lib.resource_value(container, "limits", resource)
	lib.quantity(_defaults.requests[resource]) > lib.quantity(limit)
} else := limit if {
	not lib.resource_value(container, "limits", resource)
	limit := _defaults.limits[resource]
	lib.quantity(_defaults.requests[resource]) > lib.quantity(limit)
} else := _defaults.requests[resource]

# Raised to the request the container has; a request we add is already capped by this limit.
_limit_value(container, resource) := request if {
	request := lib.resource_value(container, "requests", resource)
	lib.quantity(_defaults.limits[resource]) < lib.quantity(request)
} else := _defaults.limits[resource]
