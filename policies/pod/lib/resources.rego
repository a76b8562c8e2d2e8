package pod.lib

# METADATA
# description: |
#   The value of resources.<section>.<name> of container c (from containers) as the Pod
#   will have it: the container's own, or, while podguard's mutation has yet to run
#   (input.apply_defaults: a workload's pod template, a manifest checked offline), the
#   default it will add. A quantity is {"value": as written, "number": its exact value},
#   or {"value": as written, "error": why podguard cannot read it}. Undefined when unset.
resource(c, section, name) := q if {
	q := c.resources[section][name]
} else := added_by_defaults[c.path][section][name]

# METADATA
# description: |
#   What podguard's mutation will add, by container path, section and resource, when it has
#   yet to run (input.apply_defaults), or {}: data.pod.defaults.added or nothing.
added_by_defaults := data.pod.defaults.added if input.apply_defaults

else := {}

# METADATA
# description: |
#   The checks resources-requests and resources-limits share, for one section of
#   resources ("requests" or "limits"): every listed resource is set in every container
#   of the configured types, and a set value is not below config.min or above config.max
#   (a value equal to a bound passes). Bounds apply to any resource that is set, listed or
#   not. A value podguard cannot read is a violation of its own: it is never taken for one
#   that passes.
resource_violations(rule_id, section) := (((missing | unreadable) | below) | above) | pod_level if {
	config := rule_config(rule_id)
	types := object.get(config, "containerTypes", ["containers", "initContainers"])
	listed := object.get(config, "resources", ["cpu", "memory"])
	minimum := object.get(config, "min", {})
	maximum := object.get(config, "max", {})
	ratios := object.get(config, "maxLimitRequestRatio", {})

	# The violations are built in place: a helper function per violation would cost more
	# than the rest of the check.
	missing := {v |
		some c in input.containers
		some name, field in c.unset[section]
		name in listed
		c.type in types
		c.type != "ephemeralContainers"
		not added_by_defaults[c.path][section][name]
		v := {
			"msg": derived.unset_messages[section][name],
			"field": field,
			"container": c.name,
			"fix": derived.set_fixes[section][name],
		}
	}
	unreadable := {v |
		some c in input.containers
		some name in c.unreadable[section]
		_reads(name, listed, object.union(object.union(minimum, maximum), ratios))
		c.type in types
		c.type != "ephemeralContainers"
		q := c.resources[section][name]
		v := {
			"msg": sprintf("%s %s %s %s", [name, _singular[section], show_quantity(q.value), q.error]),
			"field": sprintf("%s.resources.%s.%s", [c.path, section, name]),
			"container": c.name,
			"fix": derived.readable_fixes[section][name],
		}
	}
	below := {v |
		some name, bound in minimum
		some c in input.containers
		c.type in types
		c.type != "ephemeralContainers"
		q := resource(c, section, name)
		q.number < config_quantity(bound)
		v := {
			"msg": sprintf("%s %s %s is below the minimum %s", [name, _singular[section], show_quantity(q.value), show_quantity(bound)]),
			"field": sprintf("%s.resources.%s.%s", [c.path, section, name]),
			"container": c.name,
			"fix": sprintf("raise resources.%s.%s to at least %s", [section, name, show_quantity(bound)]),
		}
	}
	above := {v |
		some name, bound in maximum
		some c in input.containers
		c.type in types
		c.type != "ephemeralContainers"
		q := resource(c, section, name)
		q.number > config_quantity(bound)
		v := {
			"msg": sprintf("%s %s %s is above the maximum %s", [name, _singular[section], show_quantity(q.value), show_quantity(bound)]),
			"field": sprintf("%s.resources.%s.%s", [c.path, section, name]),
			"container": c.name,
			"fix": sprintf("lower resources.%s.%s to at most %s", [section, name, show_quantity(bound)]),
		}
	}

	# The pod-level values (spec.resources), usually none, are held to the same bounds.
	pod_level := {v |
		some name, q in input.pod_resources[section]
		some v in _pod_level_violations(section, name, q, listed, minimum, maximum, ratios)
	}
}

_pod_level_violations(section, name, q, listed, minimum, maximum, ratios) := ({v |
	q.error
	_reads(name, listed, object.union(object.union(minimum, maximum), ratios))
	v := {
		"msg": sprintf("pod-level %s %s %s %s", [name, _singular[section], show_quantity(q.value), q.error]),
		"field": sprintf("%s.resources.%s.%s", [spec_path, section, name]),
		"container": "",
		"fix": sprintf("write resources.%s.%s of the Pod as a quantity such as 500m, 2 or 256Mi", [section, name]),
	}
} | {v |
	bound := minimum[name]
	q.number < config_quantity(bound)
	v := {
		"msg": sprintf("pod-level %s %s %s is below the minimum %s", [name, _singular[section], show_quantity(q.value), show_quantity(bound)]),
		"field": sprintf("%s.resources.%s.%s", [spec_path, section, name]),
		"container": "",
		"fix": sprintf("raise the Pod's resources.%s.%s to at least %s", [section, name, show_quantity(bound)]),
	}
}) | {v |
	bound := maximum[name]
	q.number > config_quantity(bound)
	v := {
		"msg": sprintf("pod-level %s %s %s is above the maximum %s", [name, _singular[section], show_quantity(q.value), show_quantity(bound)]),
		"field": sprintf("%s.resources.%s.%s", [spec_path, section, name]),
		"container": "",
		"fix": sprintf("lower the Pod's resources.%s.%s to at most %s", [section, name, show_quantity(bound)]),
	}
}

# A rule reads the resources it requires and those it bounds (a minimum, a maximum, a
# ratio of limit to request).
_reads(name, listed, _) if name in listed

_reads(name, _, bounds) if bounds[name]

# METADATA
# description: The field path of resources.<section>.<resource> of container c (from containers).
resource_field(c, section, resource) := sprintf("%s.resources.%s.%s", [c.path, section, resource])

# "requests" -> "request", as the messages name one value.
_singular := {"requests": "request", "limits": "limit"}

# The fix hints of a resource that is not set, and of one that cannot be read, by section
# and resource, for every resource a rule reads: the mutation default makes a concrete
# example; without one the hint names the field only. Part of derived.
_set_fixes := {section: {name: _set_fix(section, name) | some name in _read_resources} | some section in ["requests", "limits"]}

_unset_messages := {section: {name: sprintf("%s %s is not set", [name, _singular[section]]) |
	some name in _read_resources
} |
	some section in ["requests", "limits"]
}

_readable_fixes := {section: {name: _readable_fix(section, name) | some name in _read_resources} | some section in ["requests", "limits"]}

_read_resources contains name if {
	some id in ["resources-requests", "resources-limits"]
	some name in object.get(rule_config(id), "resources", ["cpu", "memory"])
}

_read_resources contains name if {
	some id in ["resources-requests", "resources-limits"]
	some bounds in ["min", "max", "maxLimitRequestRatio"]
	some name, _ in object.get(rule_config(id), bounds, {})
}

_set_fix(section, resource) := sprintf("set resources.%s.%s, e.g. %s", [section, resource, show_quantity(example)]) if {
	example := config.defaults.resources[section][resource]
} else := sprintf("set resources.%s.%s", [section, resource])

_readable_fix(section, resource) := sprintf("write resources.%s.%s as a quantity Kubernetes can use, e.g. %s", [
	section, resource,
	show_quantity(example),
]) if {
	example := config.defaults.resources[section][resource]
} else := sprintf("write resources.%s.%s as a quantity such as 500m, 2 or 256Mi", [section, resource])
