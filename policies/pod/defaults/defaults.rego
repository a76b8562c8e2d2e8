# METADATA
# scope: package
# title: Mutation defaults
# description: |
#   The resource requests and limits the mutating webhook adds to containers and init
#   containers that lack them, from config.defaults.resources. Only missing values are added
#   (null and "" count as missing) and a value the user set is never changed. An added value
#   never makes the container invalid: an added limit is never below the request, and an
#   added request never above the limit; where that cannot be known (a value podguard cannot
#   read), nothing is added. Nor is anything added for a resource the Pod sets at pod level
#   (spec.resources): the API server refuses container requests that add up to more than
#   the pod-level request, and a container limit above the pod-level limit, and the
#   containers share that budget anyway. Ephemeral containers cannot have resources.
#   Applying the additions and evaluating again yields no additions.
# related_resources:
#   - ref: https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/
#     description: Resource Management for Pods and Containers
package pod.defaults

import data.pod.lib

_defaults := object.get(lib.config, ["defaults", "resources"], {})

# What to add, as [container, section, resource, quantity]: every default the container
# lacks, with the value that keeps it valid.
_planned contains [c, section, resource, q] if {
	some c in lib.with_resources(["containers", "initContainers"])
	some section in ["requests", "limits"]
	some resource, default_value in object.get(_defaults, section, {})
	not default_value in {null, ""}
	not c.resources[section][resource]
	not _pod_level(resource)
	q := _value(c, section, resource)
}

_pod_level(resource) if input.pod_resources[_][resource]

# METADATA
# description: |
#   One object per value to add:
#   {"containerType", "index", "container", "section", "resource", "value"},
#   where containerType is "containers" or "initContainers" and section "requests" or "limits".
additions contains addition if {
	some [c, section, resource, q] in _planned
	addition := {
		"containerType": c.type,
		"index": c.index,
		"container": c.name,
		"section": section,
		"resource": resource,
		"value": q.value,
	}
}

# METADATA
# description: |
#   What the additions set, as quantities by container path, section and resource: what
#   lib.resource reads for a Pod that podguard's mutation has yet to see. (One object, built
#   once per evaluation, so that each lookup is a plain one.)
added := {path: {section: {resource: q |
	some [c2, section2, resource, q] in _planned
	c2.path == path
	section2 == section
} |
	some [c1, section, _, _] in _planned
	c1.path == path
} |
	some [c, _, _, _] in _planned
	path := c.path
}

# The default of a section and resource as a quantity.
_default(section, resource) := {"value": value, "number": lib.config_quantity(value)} if {
	value := _defaults[section][resource]
}

_value(c, "requests", resource) := _request_value(c, resource)

_value(c, "limits", resource) := _limit_value(c, resource)

# Capped by the limit the container has, or else by the limit we add alongside. Nothing is
# added next to a limit that cannot be read: the cap would be unknown.
_request_value(c, resource) := limit if {
	limit := c.resources.limits[resource]
	limit.number < _default("requests", resource).number
} else := limit if {
	not c.resources.limits[resource]
	limit := _default("limits", resource)
	limit.number < _default("requests", resource).number
} else := _default("requests", resource) if {
	not c.resources.limits[resource].error
}

# Raised to the request the container has; a request we add is already capped by this limit.
# Nothing is added next to a request that cannot be read.
_limit_value(c, resource) := request if {
	request := c.resources.requests[resource]
	request.number > _default("limits", resource).number
} else := _default("limits", resource) if {
	not c.resources.requests[resource].error
}
