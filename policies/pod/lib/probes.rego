package pod.lib

# Probe handler types the Kubernetes API knows, in the order the docs list them.
probe_handlers := ["exec", "httpGet", "tcpSocket", "grpc"]

# METADATA
# description: |
#   The violations of a probe rule (liveness-probe, readiness-probe, startup-probe):
#   one for every long-running container of the configured types whose probe_key
#   (e.g. livenessProbe) is missing or null, or uses no handler the rule accepts.
#   purpose completes the fix hint with what the probe is for.
probe_violations(rule_id, probe_key, purpose) := {v |
	config := rule_config(rule_id)
	handlers := object.get(config, "handlers", probe_handlers)
	types := object.get(config, "containerTypes", ["containers", "initContainers"])
	some [type, i, container] in _long_running_entries
	type in types
	probe := object.get(container, probe_key, null)
	not _accepted_probe(probe, handlers)
	v := {
		"msg": _probe_problem(probe, probe_key, handlers),
		"field": sprintf("%s.%s", [container_path(type, i), probe_key]),
		"container": container_name(container),
		"fix": _probe_fix(probe, probe_key, handlers, purpose),
	}
}

# As long_running: regular containers, and init containers that are native sidecars.
_long_running_entries := [entry |
	some entry in container_entries
	_long_running_type(entry[0], entry[2])
]

_long_running_type(type, _) if type == "containers"

_long_running_type(type, container) if {
	type == "initContainers"
	container.restartPolicy == "Always"
}

_accepted_probe(probe, handlers) if {
	some handler in handlers
	probe[handler] != null
}

_used_handlers(probe) := [handler |
	some handler in probe_handlers
	probe[handler] != null
]

_probe_problem(probe, probe_key, handlers) := sprintf("%s is not set", [probe_key]) if {
	probe == null
} else := sprintf("%s uses %s, which is not accepted here (accepted: %s)", [
	probe_key,
	concat(", ", _used_handlers(probe)),
	concat(", ", handlers),
]) if {
	count(_used_handlers(probe)) > 0
} else := sprintf("%s has no handler", [probe_key])

_probe_fix(probe, probe_key, handlers, purpose) := sprintf("replace the %s handler of %s with %s", [
	concat(", ", _used_handlers(probe)),
	probe_key,
	or_list(handlers),
]) if {
	probe != null
	count(_used_handlers(probe)) > 0
} else := sprintf("set %s (handler: %s), %s", [probe_key, or_list(handlers), purpose])
