package pod.rules.resources_limits_test

import data.pod.rules.resources_limits
import data.pod.testing

_full := {"limits": {"cpu": "500m", "memory": "256Mi"}}

_pod(spec) := {"kind": "Pod", "namespace": "default", "name": "web", "spec": spec}

_config(rule) := object.union(data.pod.config, {"rules": {"resources-limits": rule}})

_got(obj, cfg) := {[v.container, v.field, v.msg] |
	some v in resources_limits.violation with input as testing.input_with(obj, cfg) with data.pod.config as cfg
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
		"ratio with bare numbers": {
			"rule": {"maxLimitRequestRatio": {"cpu": 2, "memory": 1.5}},
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
		"ratio with a string ratio": {
			"rule": {"maxLimitRequestRatio": {"cpu": "2"}},
			"input": _one({"requests": {"cpu": "250m"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
			"want": {["app", "spec.containers[0].resources.limits.cpu", `cpu limit "1" is more than 2 times the request "250m"`]},
		},
		"unreadable limit": {
			"rule": {},
			"input": _one({"limits": {"cpu": "lots", "memory": "1Gi"}}),
			"want": {[
				"app", "spec.containers[0].resources.limits.cpu",
				`cpu limit "lots" is not a quantity such as 500m, 2 or 256Mi`,
			]},
		},
		"unreadable limit is not taken for one within max": {
			"rule": {"resources": [], "max": {"memory": "1Gi"}},
			"input": _one({"limits": {"memory": "1 Gi"}}),
			"want": {[
				"app", "spec.containers[0].resources.limits.memory",
				`memory limit "1 Gi" is not a quantity such as 500m, 2 or 256Mi`,
			]},
		},
		"ratio with an unreadable request": {
			"rule": {"maxLimitRequestRatio": {"cpu": 2}},
			"input": _one({"requests": {"cpu": "lots"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
			"want": {[
				"app", "spec.containers[0].resources.requests.cpu",
				`cpu limit cannot be compared with the request "lots", which is not a quantity such as 500m, 2 or 256Mi`,
			]},
		},
		"ratio with an unreadable limit": {
			"rule": {"maxLimitRequestRatio": {"cpu": 2}},
			"input": _one({"requests": {"cpu": "1"}, "limits": {"cpu": "lots", "memory": "1Gi"}}),
			"want": {[
				"app", "spec.containers[0].resources.limits.cpu",
				`cpu limit "lots" is not a quantity such as 500m, 2 or 256Mi`,
			]},
		},
		"ratio needs a limit, readable or not": {
			"rule": {"resources": ["memory"], "maxLimitRequestRatio": {"cpu": 2}},
			"input": _one({"requests": {"cpu": "lots"}, "limits": {"memory": "1Gi"}}),
			"want": set(),
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
	cfg := _config({"maxLimitRequestRatio": {"cpu": 4}})
	got := resources_limits.violation with input as testing.input_with(_one({"requests": {"cpu": "250m"}, "limits": {"cpu": "2"}}), cfg)
		with data.pod.config as cfg
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

test_limits_unreadable_full_violations if {
	cfg := _config({"maxLimitRequestRatio": {"memory": 2}})
	obj := _one({"requests": {"memory": "lots"}, "limits": {"cpu": "many", "memory": "1Gi"}})
	got := resources_limits.violation with input as testing.input_with(obj, cfg) with data.pod.config as cfg
	got == {
		{
			"msg": `cpu limit "many" is not a quantity such as 500m, 2 or 256Mi`,
			"field": "spec.containers[0].resources.limits.cpu",
			"container": "app",
			"fix": `write resources.limits.cpu as a quantity Kubernetes can use, e.g. "500m"`,
		},
		{
			"msg": `memory limit cannot be compared with the request "lots", which is not a quantity such as 500m, 2 or 256Mi`,
			"field": "spec.containers[0].resources.requests.memory",
			"container": "app",
			"fix": "write resources.requests.memory as a quantity such as 500m, 2 or 256Mi",
		},
	}
}

# A limit podguard cannot read is reported even when only maxLimitRequestRatio names its
# resource: the ratio cannot be checked, and it is not taken for one that holds.
test_ratio_unreadable_limit_of_a_resource_only_the_ratio_names if {
	cfg := _config({"maxLimitRequestRatio": {"ephemeral-storage": 2}})
	obj := _one({
		"requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
		"limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "lots"},
	})
	fields := {v.field | some v in resources_limits.violation} with input as testing.input_with(obj, cfg)
		with data.pod.config as cfg
	fields == {"spec.containers[0].resources.limits.ephemeral-storage"}
}

_workload(resources) := {
	"kind": "Deployment",
	"namespace": "default",
	"name": "web",
	"labels_path": "spec.template.metadata.labels",
	"spec_path": "spec.template.spec",
	"spec": {"containers": [{"name": "app", "resources": resources}]},
	"apply_defaults": true,
}

# A workload's pod template is judged with podguard's defaults applied (requests 100m and
# 128Mi, limits 500m and 256Mi): what they fill in is not missing, and max, min and the
# ratio see it.
test_limits_with_defaults_applied[note] if {
	some note, tc in {
		"added limits are not missing": {"rule": {}, "resources": null, "want": set()},
		"max sees the added limit": {
			"rule": {"max": {"cpu": "250m"}},
			"resources": null,
			"want": {[
				"app", "spec.template.spec.containers[0].resources.limits.cpu",
				`cpu limit "500m" is above the maximum "250m"`,
			]},
		},
		"max sees the limit raised to the request": {
			"rule": {"max": {"memory": "1Gi"}},
			"resources": {"requests": {"memory": "2Gi"}},
			"want": {[
				"app", "spec.template.spec.containers[0].resources.limits.memory",
				`memory limit "2Gi" is above the maximum "1Gi"`,
			]},
		},
		"ratio of the added values": {
			"rule": {"maxLimitRequestRatio": {"cpu": 4}},
			"resources": null,
			"want": {[
				"app", "spec.template.spec.containers[0].resources.limits.cpu",
				`cpu limit "500m" is more than 4 times the request "100m"`,
			]},
		},
		"ratio of an own limit and an added request": {
			"rule": {"maxLimitRequestRatio": {"memory": 2}},
			"resources": {"limits": {"memory": "1Gi"}},
			"want": {[
				"app", "spec.template.spec.containers[0].resources.limits.memory",
				`memory limit "1Gi" is more than 2 times the request "128Mi"`,
			]},
		},
		"ratio within bounds": {
			"rule": {"maxLimitRequestRatio": {"cpu": 5, "memory": 2}},
			"resources": null,
			"want": set(),
		},
		"no limit is added next to an unreadable request": {
			"rule": {"maxLimitRequestRatio": {"cpu": 2}},
			"resources": {"requests": {"cpu": "lots"}},
			"want": {["app", "spec.template.spec.containers[0].resources.limits.cpu", "cpu limit is not set"]},
		},
	}
	_got(_workload(tc.resources), _config(tc.rule)) == tc.want
}
