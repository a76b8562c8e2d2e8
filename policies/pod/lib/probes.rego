package pod.lib

# Probe handler types the Kubernetes API knows, in the order the docs list them.
probe_handlers := ["exec", "httpGet", "tcpSocket", "grpc"]

# METADATA
# description: |
#   The violations of a probe rule (liveness-probe, readiness-probe, startup-probe):
#   one for every long-running container of the configured types whose probe_key
#   (e.g. livenessProbe) is missing or null, or uses no handler the rule accepts.
probe_violations(rule_id, probe_key) := missing | unaccepted if {
	config := rule_config(rule_id)
	handlers := object.get(config, "handlers", probe_handlers)
	types := object.get(config, "containerTypes", ["containers", "initContainers"])
	missing := {v |
		some c in containers
		field := c.unset.probes[probe_key]
		c.long_running
		c.type in types
		v := {
			"msg": derived.probe_texts[rule_id].unset,
			"field": field,
			"container": c.name,
			"fix": derived.probe_texts[rule_id].set_fix,
		}
	}

	unaccepted := {v |
		some c in containers
		used := c.probes[probe_key]
		not _accepts(used, handlers)
		c.long_running
		c.type in types
		v := {
			"msg": _probe_problem(used, probe_key, handlers),
			"field": sprintf("%s.%s", [c.path, probe_key]),
			"container": c.name,
			"fix": _probe_fix(used, probe_key, handlers, _probe_purposes[probe_key]),
		}
	}
}

# What each probe is for, which completes the hint to set it.
_probe_purposes := {
	"livenessProbe": "so the kubelet restarts the container when it stops responding",
	"readinessProbe": "so Services send traffic only when the container is ready to serve it",
	"startupProbe": "so a slow start is not mistaken for a hang by the liveness probe",
}

# The messages of each probe rule about a probe that is not set. Part of derived.
_probe_texts := {id: {
	"unset": sprintf("%s is not set", [key]),
	"set_fix": sprintf("set %s (handler: %s), %s", [
		key,
		or_list(object.get(rule_config(id), "handlers", probe_handlers)),
		_probe_purposes[key],
	]),
} |
	some id, key in {"liveness-probe": "livenessProbe", "readiness-probe": "readinessProbe", "startup-probe": "startupProbe"}
}

_accepts(used, handlers) if {
	some handler in used
	handler in handlers
}

_probe_problem(used, probe_key, handlers) := sprintf("%s uses %s, which is not accepted here (accepted: %s)", [
	probe_key,
	concat(", ", used),
	concat(", ", handlers),
]) if {
	count(used) > 0
} else := sprintf("%s has no handler", [probe_key])

_probe_fix(used, probe_key, handlers, purpose) := sprintf("replace the %s handler of %s with %s", [
	concat(", ", used),
	probe_key,
	or_list(handlers),
]) if {
	count(used) > 0
} else := sprintf("set %s (handler: %s), %s", [probe_key, or_list(handlers), purpose])
