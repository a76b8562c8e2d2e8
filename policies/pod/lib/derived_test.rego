package pod.lib_test

import data.pod.lib
import data.pod.rules.liveness_probe
import data.pod.rules.resources_limits
import data.pod.rules.resources_requests
import data.pod.testing

_liveness_fix := concat("", [
	"set livenessProbe (handler: exec, httpGet, tcpSocket or grpc), ",
	"so the kubelet restarts the container when it stops responding",
])

_readiness_fix := concat("", [
	"set readinessProbe (handler: exec, httpGet, tcpSocket or grpc), ",
	"so Services send traffic only when the container is ready to serve it",
])

_startup_fix := concat("", [
	"set startupProbe (handler: exec, httpGet, tcpSocket or grpc), ",
	"so a slow start is not mistaken for a hang by the liveness probe",
])

# What the rules need from the default configuration, worked out in opa test as the engine
# works it out when it loads the policy set.
test_derived_from_the_default_configuration if {
	lib.derived == {
		"set_fixes": {
			"requests": {"cpu": `set resources.requests.cpu, e.g. "100m"`, "memory": `set resources.requests.memory, e.g. "128Mi"`},
			"limits": {"cpu": `set resources.limits.cpu, e.g. "500m"`, "memory": `set resources.limits.memory, e.g. "256Mi"`},
		},
		"unset_messages": {
			"requests": {"cpu": "cpu request is not set", "memory": "memory request is not set"},
			"limits": {"cpu": "cpu limit is not set", "memory": "memory limit is not set"},
		},
		"readable_fixes": {
			"requests": {
				"cpu": `write resources.requests.cpu as a quantity Kubernetes can use, e.g. "100m"`,
				"memory": `write resources.requests.memory as a quantity Kubernetes can use, e.g. "128Mi"`,
			},
			"limits": {
				"cpu": `write resources.limits.cpu as a quantity Kubernetes can use, e.g. "500m"`,
				"memory": `write resources.limits.memory as a quantity Kubernetes can use, e.g. "256Mi"`,
			},
		},
		"probe_texts": {
			"liveness-probe": {"unset": "livenessProbe is not set", "set_fix": _liveness_fix},
			"readiness-probe": {"unset": "readinessProbe is not set", "set_fix": _readiness_fix},
			"startup-probe": {"unset": "startupProbe is not set", "set_fix": _startup_fix},
		},
	}
}

# Every resource either resource rule reads (required, or bounded by min or max) has its
# texts, in both sections; the probe hints name the configured handlers.
test_derived_follows_the_configuration if {
	cfg := {
		"rules": {
			"resources-requests": {"resources": ["cpu"], "min": {"ephemeral-storage": "1Gi"}},
			"resources-limits": {"resources": [], "max": {"nvidia.com/gpu": 2}},
			"liveness-probe": {"handlers": ["httpGet", "grpc"]},
		},
		"defaults": {"resources": {"limits": {"nvidia.com/gpu": 1}}},
	}
	d := lib.derived with data.pod.config as cfg
	d.unset_messages == {
		"requests": {
			"cpu": "cpu request is not set",
			"ephemeral-storage": "ephemeral-storage request is not set",
			"nvidia.com/gpu": "nvidia.com/gpu request is not set",
		},
		"limits": {
			"cpu": "cpu limit is not set",
			"ephemeral-storage": "ephemeral-storage limit is not set",
			"nvidia.com/gpu": "nvidia.com/gpu limit is not set",
		},
	}
	d.set_fixes.limits["nvidia.com/gpu"] == "set resources.limits.nvidia.com/gpu, e.g. 1"
	d.set_fixes.requests["nvidia.com/gpu"] == "set resources.requests.nvidia.com/gpu"
	d.readable_fixes.requests["ephemeral-storage"] == "write resources.requests.ephemeral-storage as a quantity such as 500m, 2 or 256Mi"
	d.readable_fixes.limits["nvidia.com/gpu"] == "write resources.limits.nvidia.com/gpu as a quantity Kubernetes can use, e.g. 1"
	d.probe_texts["liveness-probe"].set_fix == concat("", [
		"set livenessProbe (handler: httpGet or grpc), ",
		"so the kubelet restarts the container when it stops responding",
	])
}

# derived depends on the configuration alone, so the engine can work it out once.
test_derived_does_not_read_the_input if {
	without := lib.derived
	with_pod := lib.derived with input as testing.pod({"containers": [{"name": "app", "resources": {"requests": {"cpu": "lots"}}}]})
	with_pod == without
	lib.derived == without with input as {"containers": "not a list", "labels": null}
}

# The engine serves derived as data.pod.derived; the rules then read that.
test_derived_served_by_the_engine_is_used if {
	lib.derived == {"served": true} with data.pod.derived as {"served": true}
}

# Worked out in opa test or served by the engine (from the same configuration), derived
# gives the rules the same violations: it holds what they need.
test_rules_judge_the_same_with_derived_served[note] if {
	some note, tc in {
		"default configuration": {
			"cfg": data.pod.config,
			"want": {
				"containers[0].resources.requests.cpu", "containers[0].resources.requests.memory",
				"containers[1].resources.requests.cpu",
				"initContainers[0].resources.requests.cpu", "initContainers[0].resources.requests.memory",
				"containers[0].resources.limits.cpu", "containers[0].resources.limits.memory",
				"containers[1].resources.limits.memory",
				"initContainers[0].resources.limits.cpu", "initContainers[0].resources.limits.memory",
				"containers[0].livenessProbe", "containers[1].livenessProbe",
			},
		},
		"configured resources and handlers": {
			"cfg": object.union(data.pod.config, {"rules": {
				"resources-requests": {"resources": ["cpu", "ephemeral-storage"]},
				"resources-limits": {"max": {"memory": "1Gi"}},
				"liveness-probe": {"handlers": ["exec"]},
			}}),
			"want": {
				"containers[0].resources.requests.cpu", "containers[0].resources.requests.ephemeral-storage",
				"containers[1].resources.requests.cpu",
				"initContainers[0].resources.requests.cpu", "initContainers[0].resources.requests.ephemeral-storage",
				"containers[0].resources.limits.cpu", "containers[0].resources.limits.memory",
				"containers[1].resources.limits.memory",
				"initContainers[0].resources.limits.cpu", "initContainers[0].resources.limits.memory",
				"containers[0].livenessProbe", "containers[1].livenessProbe", "initContainers[0].livenessProbe",
			},
		},
	}
	obj := {"spec": {
		"containers": [
			{"name": "app"},
			{"name": "web", "resources": {
				"requests": {"cpu": "lots", "memory": "1Gi", "ephemeral-storage": "1Gi"},
				"limits": {"cpu": "1", "memory": "many"},
			}},
		],
		"initContainers": [{"name": "proxy", "restartPolicy": "Always", "livenessProbe": {"grpc": {"port": 1}}}],
	}}
	inp := testing.input_with(obj, tc.cfg)
	served := lib.derived with data.pod.config as tc.cfg
	worked_out := _all_violations with input as inp with data.pod.config as tc.cfg
	from_served := _all_violations with input as inp with data.pod.config as tc.cfg with data.pod.derived as served
	from_served == worked_out

	# A violation whose texts were missing would be missing itself.
	count(worked_out) == count(tc.want)
	{substring(v.field, 5, -1) | some v in worked_out} == tc.want
}

_all_violations := (resources_requests.violation | resources_limits.violation) | liveness_probe.violation
