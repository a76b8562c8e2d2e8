package pod.lib

# METADATA
# description: |
#   The checks resources-requests and resources-limits share, for one section of
#   resources ("requests" or "limits"): every listed resource is set in every container
#   of the configured types, and a set value is not below config.min or above config.max
#   (a value equal to a bound passes). Bounds apply to any resource that is set, listed or not.
resource_violations(rule_id, section) := (missing | below) | above if {
	missing := _missing_resources(rule_id, section)
	below := _below_min(rule_id, section)
	above := _above_max(rule_id, section)
}

# METADATA
# description: The containers a resource rule checks, from its containerTypes setting.
resource_containers(config) := with_resources(object.get(config, "containerTypes", ["containers", "initContainers"]))

# METADATA
# description: The field path of resources.<section>.<resource> of container c (from containers).
resource_field(c, section, resource) := sprintf("%s.resources.%s.%s", [c.path, section, resource])

# "requests" -> "request", as the messages name one value.
_singular := {"requests": "request", "limits": "limit"}

_missing_resources(rule_id, section) := {v |
	config := rule_config(rule_id)
	resources := object.get(config, "resources", ["cpu", "memory"])
	types := object.get(config, "containerTypes", ["containers", "initContainers"])
	some [type, i, container] in container_entries
	type in types
	type != "ephemeralContainers"
	some resource in resources

	# As not resource_value(...): missing, null and "" all mean "not set".
	object.get(container, ["resources", section, resource], null) in {null, ""}
	v := {
		"msg": sprintf("%s %s is not set", [resource, _singular[section]]),
		"field": sprintf("%s.resources.%s.%s", [container_path(type, i), section, resource]),
		"container": container_name(container),
		"fix": _set_fix(section, resource),
	}
}

# The mutation default makes a concrete example; without one the hint names the field only.
_set_fix(section, resource) := sprintf("set resources.%s.%s, e.g. %s", [section, resource, show_quantity(example)]) if {
	example := config.defaults.resources[section][resource]
} else := sprintf("set resources.%s.%s", [section, resource])

_below_min(rule_id, section) := {v |
	config := rule_config(rule_id)
	some resource, minimum in object.get(config, "min", {})
	types := object.get(config, "containerTypes", ["containers", "initContainers"])
	some [type, i, container] in container_entries
	type in types
	type != "ephemeralContainers"
	value := resource_value(container, section, resource)
	quantity(value) < quantity(minimum)
	v := {
		"msg": sprintf("%s %s %s is below the minimum %s", [
			resource, _singular[section],
			show_quantity(value), show_quantity(minimum),
		]),
		"field": sprintf("%s.resources.%s.%s", [container_path(type, i), section, resource]),
		"container": container_name(container),
		"fix": sprintf("raise resources.%s.%s to at least %s", [section, resource, show_quantity(minimum)]),
	}
}

_above_max(rule_id, section) := {v |
	config := rule_config(rule_id)
	some resource, maximum in object.get(config, "max", {})
	types := object.get(config, "containerTypes", ["containers", "initContainers"])
	some [type, i, container] in container_entries
	type in types
	type != "ephemeralContainers"
	value := resource_value(container, section, resource)
	quantity(value) > quantity(maximum)
	v := {
		"msg": sprintf("%s %s %s is above the maximum %s", [
			resource, _singular[section],
			show_quantity(value), show_quantity(maximum),
		]),
		"field": sprintf("%s.resources.%s.%s", [container_path(type, i), section, resource]),
		"container": container_name(container),
		"fix": sprintf("lower resources.%s.%s to at most %s", [section, resource, show_quantity(maximum)]),
	}
}
