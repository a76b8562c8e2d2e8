package pod.defaults_test

import data.pod.defaults
import data.pod.lib
import data.pod.testing

_pod(spec) := {"kind": "Pod", "namespace": "default", "name": "web", "spec": spec}

_one(resources) := _pod({"containers": [{"name": "app", "resources": resources}]})

_config(resources) := object.union(object.remove(data.pod.config, ["defaults"]), {"defaults": {"resources": resources}})

# The additions for obj under cfg.
_additions(obj, cfg) := additions if {
	additions := defaults.additions with input as testing.input_with(obj, cfg) with data.pod.config as cfg
}

# The additions as [section, resource, value], for tests with a single container.
_added(obj, cfg) := {[a.section, a.resource, a.value] | some a in _additions(obj, cfg)}

# What the mutating webhook does with the additions: set each value in its container.
_apply(inp, additions) := object.union(inp, {"spec": {type: list |
	some type in ["containers", "initContainers"]
	is_array(inp.spec[type])
	list := [_patched(c, [a | some a in additions; a.containerType == type; a.index == i]) |
		some i, c in inp.spec[type]
	]
}})

_patched(container, additions) := object.union(container, {"resources": {section: values |
	some section in ["requests", "limits"]
	values := {a.resource: a.value | some a in additions; a.section == section}
}})

# Containers whose request for a resource is above its limit, i.e. objects the API server rejects.
_invalid(obj) := invalid if {
	invalid := {[c.path, resource] |
		some c in lib.with_resources(lib.container_types)
		some resource, limit in object.get(c.resources, "limits", {})
		c.resources.requests[resource].number > limit.number
	} with input as testing.input_of(obj)
}

_cases := {
	"nothing set": {
		"resources": null,
		"defaults": data.pod.config.defaults.resources,
		"want": {
			["requests", "cpu", "100m"], ["requests", "memory", "128Mi"],
			["limits", "cpu", "500m"], ["limits", "memory", "256Mi"],
		},
	},
	"everything set": {
		"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
		"defaults": data.pod.config.defaults.resources,
		"want": set(),
	},
	"only what is missing": {
		"resources": {"requests": {"cpu": "200m"}, "limits": {"memory": "300Mi"}},
		"defaults": data.pod.config.defaults.resources,
		"want": {["requests", "memory", "128Mi"], ["limits", "cpu", "500m"]},
	},
	"empty string and null are missing": {
		"resources": {"requests": {"cpu": "", "memory": null}, "limits": {"cpu": "1", "memory": "1Gi"}},
		"defaults": data.pod.config.defaults.resources,
		"want": {["requests", "cpu", "100m"], ["requests", "memory", "128Mi"]},
	},
	"limit raised to a larger request": {
		"resources": {"requests": {"cpu": "2", "memory": "1Gi"}},
		"defaults": data.pod.config.defaults.resources,
		"want": {["limits", "cpu", "2"], ["limits", "memory", "1Gi"]},
	},
	"limit raised to a bare-number request": {
		"resources": {"requests": {"cpu": 1, "memory": 536870912}},
		"defaults": data.pod.config.defaults.resources,
		"want": {["limits", "cpu", 1], ["limits", "memory", 536870912]},
	},
	"limit equal to the request keeps the default": {
		"resources": {"requests": {"cpu": "0.5", "memory": 268435456}},
		"defaults": data.pod.config.defaults.resources,
		"want": {["limits", "cpu", "500m"], ["limits", "memory", "256Mi"]},
	},
	"default limit kept when the request is smaller": {
		"resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
		"defaults": data.pod.config.defaults.resources,
		"want": {["limits", "cpu", "500m"], ["limits", "memory", "256Mi"]},
	},
	"request capped by a smaller limit": {
		"resources": {"limits": {"cpu": "50m", "memory": "64Mi"}},
		"defaults": data.pod.config.defaults.resources,
		"want": {["requests", "cpu", "50m"], ["requests", "memory", "64Mi"]},
	},
	"request capped across units: 6G limit below a 6Gi default": {
		"resources": {"limits": {"cpu": "1", "memory": "6G"}},
		"defaults": {"requests": {"memory": "6Gi"}},
		"want": {["requests", "memory", "6G"]},
	},
	"default request kept when the limit is larger": {
		"resources": {"limits": {"cpu": 2, "memory": "1Gi"}},
		"defaults": data.pod.config.defaults.resources,
		"want": {["requests", "cpu", "100m"], ["requests", "memory", "128Mi"]},
	},
	"default request above default limit": {
		"resources": null,
		"defaults": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "2Gi"}},
		"want": {
			["requests", "cpu", "500m"], ["limits", "cpu", "500m"],
			["requests", "memory", "1Gi"], ["limits", "memory", "2Gi"],
		},
	},
	"only listed defaults": {
		"resources": null,
		"defaults": {"limits": {"memory": "256Mi"}},
		"want": {["limits", "memory", "256Mi"]},
	},
	"bare-number defaults": {
		"resources": {"requests": {"cpu": "250m"}},
		"defaults": {"requests": {"cpu": 0.1, "memory": 134217728}, "limits": {"cpu": 0.2}},
		"want": {["requests", "memory", 134217728], ["limits", "cpu", "250m"]},
	},
	"null and empty defaults are ignored": {
		"resources": null,
		"defaults": {"requests": {"cpu": null, "memory": ""}, "limits": {"cpu": "1"}},
		"want": {["limits", "cpu", "1"]},
	},
	"no defaults": {
		"resources": null,
		"defaults": {},
		"want": set(),
	},
	"extended resource": {
		"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
		"defaults": {"requests": {"ephemeral-storage": "1Gi"}},
		"want": {["requests", "ephemeral-storage", "1Gi"]},
	},
	"no limit next to a request that cannot be read": {
		"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
		"defaults": data.pod.config.defaults.resources,
		"want": set(),
	},
	"no request next to a limit that cannot be read": {
		"resources": {"limits": {"cpu": "1 core", "memory": "1Gi"}},
		"defaults": data.pod.config.defaults.resources,
		"want": {["requests", "memory", "128Mi"]},
	},
	"a value that cannot be read is not replaced": {
		"resources": {"requests": {"cpu": "lots", "memory": true}, "limits": {"cpu": "lots", "memory": "many"}},
		"defaults": data.pod.config.defaults.resources,
		"want": set(),
	},
	"only the resource that cannot be read is left alone": {
		"resources": {"requests": {"cpu": "lots"}},
		"defaults": data.pod.config.defaults.resources,
		"want": {["requests", "memory", "128Mi"], ["limits", "memory", "256Mi"]},
	},
}

test_additions[note] if {
	some note, tc in _cases
	_added(_one(tc.resources), _config(tc.defaults)) == tc.want
}

# Mutating the output of a mutation adds nothing, and never produces a request above its limit.
test_idempotent_and_valid[note] if {
	some note, tc in _cases
	cfg := _config(tc.defaults)
	before := _one(tc.resources)
	after := _apply(before, _additions(before, cfg))
	count(_additions(after, cfg)) == 0
	_invalid(after) == set()
}

test_container_types_and_indexes if {
	inp := object.union(
		_pod({
			"containers": [
				{"name": "app", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1"}}},
				{"name": "log", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}},
			],
			"initContainers": [
				{"name": "migrate", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1"}}},
				{
					"name": "proxy", "restartPolicy": "Always",
					"resources": {"requests": {"cpu": "10m"}, "limits": {"cpu": "1", "memory": "1Gi"}},
				},
			],
			"ephemeralContainers": [{"name": "debug"}],
		}),
		{"kind": "Deployment", "spec_path": "spec.template.spec"},
	)
	got := {[a.containerType, a.index, a.container, a.section, a.resource, a.value] |
		some a in _additions(inp, data.pod.config)
	}
	got == {
		["containers", 0, "app", "limits", "memory", "1Gi"],
		["containers", 1, "log", "limits", "cpu", "1"],
		["initContainers", 0, "migrate", "limits", "memory", "1Gi"],
		["initContainers", 1, "proxy", "requests", "memory", "128Mi"],
	}
	some a in _additions(inp, data.pod.config)
	a == {
		"containerType": "containers", "index": 0, "container": "app",
		"section": "limits", "resource": "memory", "value": "1Gi",
	}
}

test_hand_written_after_needs_nothing if {
	after := _pod({
		"containers": [{"name": "app", "resources": {
			"requests": {"cpu": "100m", "memory": "128Mi"},
			"limits": {"cpu": "500m", "memory": "256Mi"},
		}}],
		"initContainers": [{"name": "init", "resources": {
			"requests": {"cpu": "2", "memory": "64Mi"},
			"limits": {"cpu": "2", "memory": "64Mi"},
		}}],
		"ephemeralContainers": [{"name": "debug"}],
	})
	count(_additions(after, data.pod.config)) == 0
}

test_after_mutation_resource_rules_pass if {
	before := _pod({
		"containers": [{"name": "app"}],
		"initContainers": [{"name": "init", "resources": {"limits": {"cpu": "50m"}}}],
	})
	after := _apply(before, _additions(before, data.pod.config))
	count(data.pod.rules.resources_requests.violation) == 0 with input as testing.input_of(after)
	count(data.pod.rules.resources_limits.violation) == 0 with input as testing.input_of(after)
}

# Judging a Pod with the defaults applied (a workload's pod template, a manifest checked
# offline) gives what judging the mutated Pod gives.
test_defaults_applied_judge_like_the_mutated_pod[note] if {
	some note, tc in {
		"nothing set": {"resources": null, "requests": {}, "limits": {}},
		"request above the default limit": {
			"resources": {"requests": {"cpu": "2"}},
			"requests": {"max": {"cpu": "1"}},
			"limits": {"max": {"cpu": "1"}},
		},
		"limit below the default request": {
			"resources": {"limits": {"memory": "64Mi"}},
			"requests": {"min": {"memory": "100Mi"}},
			"limits": {},
		},
		"ratio of added values": {"resources": null, "requests": {}, "limits": {"maxLimitRequestRatio": {"cpu": 2}}},
		"value that cannot be read": {
			"resources": {"requests": {"cpu": "lots"}},
			"requests": {},
			"limits": {"maxLimitRequestRatio": {"cpu": 2}},
		},
	}
	cfg := object.union(data.pod.config, {"rules": {"resources-requests": tc.requests, "resources-limits": tc.limits}})
	before := _one(tc.resources)
	after := _apply(before, _additions(before, cfg))
	applied := _resource_violations with input as testing.input_with(object.union(before, {"apply_defaults": true}), cfg)
		with data.pod.config as cfg
	mutated := _resource_violations with input as testing.input_with(after, cfg) with data.pod.config as cfg
	applied == mutated
}

_resource_violations := data.pod.rules.resources_requests.violation | data.pod.rules.resources_limits.violation

test_no_spec if {
	count(_additions({"kind": "Pod"}, data.pod.config)) == 0
}

# The API server refuses container requests that add up to more than the pod-level request,
# and a container limit above the pod-level limit: for a resource the Pod sets at pod level,
# no container default is added, in either section.
test_no_defaults_for_pod_level_resources[note] if {
	some note, tc in {
		"requests and limits at pod level, containers bare": {
			"pod": {"requests": {"cpu": "200m", "memory": "100Mi"}, "limits": {"cpu": "400m", "memory": "200Mi"}},
			"want": set(),
		},
		"only a memory limit at pod level: cpu still defaulted": {
			"pod": {"limits": {"memory": "200Mi"}},
			"want": {["requests", "cpu", "100m"], ["limits", "cpu", "500m"]},
		},
	}
	inp := testing.input_of({"spec": {"resources": tc.pod, "containers": [{"name": "app"}]}})
	got := {[a.section, a.resource, a.value] | some a in defaults.additions with input as inp}
	got == tc.want
}
