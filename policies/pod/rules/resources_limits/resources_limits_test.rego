package pod.rules.resources_limits_test

import data.pod.rules.resources_limits

_full := {"limits": {"cpu": "500m", "memory": "256Mi"}}

_pod(spec) := {
	"kind": "Pod", "namespace": "default", "name": "web",
	"labels_path": "metadata.labels", "spec_path": "spec", "spec": spec,
}

_config(rule) := object.union(data.pod.config, {"rules": {"resources-limits": rule}})

_got(inp, cfg) := {[v.container, v.field, v.msg] |
	some v in resources_limits.violation with input as inp with data.pod.config as cfg
}

_one(resources) := _pod({"containers": [{"name": "app", "resources": resources}]})

test_limits[note] if {
	some note, tc in {
		"all set": {
			"input": _pod({
				"containers": [{"name": "app", "resources": _full}],
				"initContainers": [{"name": "proxy", "restartPolicy": "Always", "resources": _full}],
			}),
			"want": set(),
		},
		"missing": {
			"input": _pod({"containers": [{"name": "app", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}),
			"want": {
				["app", "spec.containers[0].resources.limits.cpu", "cpu limit is not set"],
				["app", "spec.containers[0].resources.limits.memory", "memory limit is not set"],
			},
		},
		"empty string and null": {
			"input": _one({"limits": {"cpu": "", "memory": null}}),
			"want": {
				["app", "spec.containers[0].resources.limits.cpu", "cpu limit is not set"],
				["app", "spec.containers[0].resources.limits.memory", "memory limit is not set"],
			},
		},
		"init containers and sidecars": {
			"input": _pod({
				"containers": [{"name": "app", "resources": _full}],
				"initContainers": [
					{"name": "migrate", "resources": {"limits": {"cpu": "1"}}},
					{"name": "proxy", "restartPolicy": "Always", "resources": {"limits": {"memory": "1Gi"}}},
				],
				"ephemeralContainers": [{"name": "debug"}],
			}),
			"want": {
				["migrate", "spec.initContainers[0].resources.limits.memory", "memory limit is not set"],
				["proxy", "spec.initContainers[1].resources.limits.cpu", "cpu limit is not set"],
			},
		},
		"workload": {
			"input": object.union(_pod({"containers": [{"name": "app", "resources": {"limits": {"memory": "1Gi"}}}]}), {
				"kind": "StatefulSet",
				"spec_path": "spec.template.spec",
			}),
			"want": {["app", "spec.template.spec.containers[0].resources.limits.cpu", "cpu limit is not set"]},
		},
	}
	_got(tc.input, data.pod.config) == tc.want
}

test_limits_configured[note] if {
	some note, tc in {
		"memory only": {
			"rule": {"resources": ["memory"]},
			"input": _one({"limits": {"memory": "1Gi"}}),
			"want": set(),
		},
		"ephemeral listed is still skipped": {
			"rule": {"containerTypes": ["containers", "ephemeralContainers"]},
			"input": _pod({"containers": [{"name": "app", "resources": _full}], "ephemeralContainers": [{"name": "d"}]}),
			"want": set(),
		},
		"max: 6Gi over 6G": {
			"rule": {"max": {"memory": "6G"}},
			"input": _one({"limits": {"cpu": "1", "memory": "6Gi"}}),
			"want": {["app", "spec.containers[0].resources.limits.memory", `memory limit "6Gi" is above the maximum "6G"`]},
		},
		"max: 6G under 6Gi": {
			"rule": {"max": {"memory": "6Gi"}},
			"input": _one({"limits": {"cpu": "1", "memory": "6G"}}),
			"want": set(),
		},
		"max equal passes": {
			"rule": {"max": {"cpu": "2", "memory": "1Gi"}},
			"input": _one({"limits": {"cpu": 2, "memory": "1024Mi"}}),
			"want": set(),
		},
		"min": {
			"rule": {"min": {"memory": "64Mi"}},
			"input": _one({"limits": {"cpu": "1", "memory": "32Mi"}}),
			"want": {["app", "spec.containers[0].resources.limits.memory", `memory limit "32Mi" is below the minimum "64Mi"`]},
		},
		"ratio above": {
			"rule": {"maxLimitRequestRatio": {"cpu": 4}},
			"input": _one({"requests": {"cpu": "100m"}, "limits": {"cpu": "500m", "memory": "1Gi"}}),
			"want": {[
				"app", "spec.containers[0].resources.limits.cpu",
				`cpu limit "500m" is more than 4 times the request "100m"`,
			]},
		},
		"ratio equal passes": {
			"rule": {"maxLimitRequestRatio": {"cpu": 5}},
			"input": _one({"requests": {"cpu": "100m"}, "limits": {"cpu": "500m", "memory": "1Gi"}}),
			"want": set(),
		},
		"ratio with bare numbers and a string ratio": {
			"rule": {"maxLimitRequestRatio": {"cpu": "2", "memory": 1.5}},
			"input": _one({"requests": {"cpu": 0.25, "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "1.5Gi"}}),
			"want": {["app", "spec.containers[0].resources.limits.cpu", `cpu limit 1 is more than 2 times the request 0.25`]},
		},
		"ratio across units: 6Gi over 6G is above 1": {
			"rule": {"maxLimitRequestRatio": {"memory": 1}},
			"input": _one({"requests": {"memory": "6G"}, "limits": {"cpu": "1", "memory": "6Gi"}}),
			"want": {[
				"app", "spec.containers[0].resources.limits.memory",
				`memory limit "6Gi" is more than 1 times the request "6G"`,
			]},
		},
		"ratio needs the request": {
			"rule": {"maxLimitRequestRatio": {"cpu": 2}},
			"input": _one({"limits": {"cpu": "8", "memory": "1Gi"}}),
			"want": set(),
		},
		"ratio over a zero request": {
			"rule": {"maxLimitRequestRatio": {"cpu": 10}},
			"input": _one({"requests": {"cpu": "0"}, "limits": {"cpu": "1m", "memory": "1Gi"}}),
			"want": {["app", "spec.containers[0].resources.limits.cpu", `cpu limit "1m" is more than 10 times the request "0"`]},
		},
		"ratio on init container, not ephemeral": {
			"rule": {"maxLimitRequestRatio": {"cpu": 2}, "containerTypes": _all_types},
			"input": _pod({
				"initContainers": [{
					"name": "init",
					"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "3", "memory": "1Gi"}},
				}],
				"ephemeralContainers": [{"name": "d", "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "3"}}}],
			}),
			"want": {[
				"init", "spec.initContainers[0].resources.limits.cpu",
				`cpu limit "3" is more than 2 times the request "1"`,
			]},
		},
	}
	_got(tc.input, _config(tc.rule)) == tc.want
}

_all_types := ["containers", "initContainers", "ephemeralContainers"]

test_limits_full_violations if {
	got := resources_limits.violation with input as _one({"requests": {"cpu": "250m"}, "limits": {"cpu": "2"}})
		with data.pod.config as _config({"maxLimitRequestRatio": {"cpu": 4}})
	got == {
		{
			"msg": "memory limit is not set",
			"field": "spec.containers[0].resources.limits.memory",
			"container": "app",
			"fix": `set resources.limits.memory, e.g. "256Mi"`,
		},
		{
			"msg": `cpu limit "2" is more than 4 times the request "250m"`,
			"field": "spec.containers[0].resources.limits.cpu",
			"container": "app",
			"fix": "lower resources.limits.cpu to at most 4 times resources.requests.cpu, or raise the request",
		},
	}
}
