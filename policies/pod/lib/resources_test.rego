package pod.lib_test

import data.pod.lib
import data.pod.testing

_not_a_quantity := "is not a quantity such as 500m, 2 or 256Mi"

_resource_pod(resources) := {"spec": {"containers": [{"name": "app", "resources": resources}]}}

_resource_result(rule, resources) := result if {
	cfg := {"rules": {"resources-requests": rule}}
	result := lib.resource_violations("resources-requests", "requests") with input as testing.input_with(_resource_pod(resources), cfg)
		with data.pod.config as cfg
}

# The only container of obj, as lib.containers gives it, and lib.resource of it, under cfg.
_resource_of(obj, cfg, section, name) := q if {
	inp := testing.input_with(obj, cfg)
	q := lib.resource(inp.containers[0], section, name) with input as inp with data.pod.config as cfg
}

test_resource[note] if {
	some note, tc in {
		"set": {"resources": {"limits": {"cpu": "1"}}, "want": {"value": "1", "number": 1}},
		"number": {"resources": {"limits": {"cpu": 0.5}}, "want": {"value": 0.5, "number": 0.5}},
		"zero is set": {"resources": {"limits": {"cpu": 0}}, "want": {"value": 0, "number": 0}},
		"unit": {"resources": {"limits": {"cpu": "250m"}}, "want": {"value": "250m", "number": 0.25}},
		"unreadable": {"resources": {"limits": {"cpu": "lots"}}, "want": {"value": "lots", "error": _not_a_quantity}},
		"not a string": {"resources": {"limits": {"cpu": true}}, "want": {"value": true, "error": _not_a_quantity}},
	}
	_resource_of(_resource_pod(tc.resources), data.pod.config, "limits", "cpu") == tc.want
}

test_resource_missing[note] if {
	some note, resources in {
		"no resources": {},
		"null resources": null,
		"null section": {"limits": null},
		"other section": {"requests": {"cpu": "1"}},
		"null value": {"limits": {"cpu": null}},
		"empty string": {"limits": {"cpu": ""}},
	}
	not _resource_of(_resource_pod(resources), data.pod.config, "limits", "cpu")
}

# A workload's pod template (or a manifest checked offline) has yet to meet podguard's
# mutation: with input.apply_defaults, lib.resource reads what the mutation will add.
test_resource_with_defaults_applied[note] if {
	some note, tc in {
		"missing request takes the default": {
			"resources": null,
			"section": "requests",
			"want": {"value": "100m", "number": 0.1},
		},
		"missing limit takes the default": {
			"resources": null,
			"section": "limits",
			"want": {"value": "500m", "number": 0.5},
		},
		"own value wins": {
			"resources": {"requests": {"cpu": "250m"}},
			"section": "requests",
			"want": {"value": "250m", "number": 0.25},
		},
		"added limit raised to the request": {
			"resources": {"requests": {"cpu": "2"}},
			"section": "limits",
			"want": {"value": "2", "number": 2},
		},
		"added request capped by the limit": {
			"resources": {"limits": {"cpu": "50m"}},
			"section": "requests",
			"want": {"value": "50m", "number": 0.05},
		},
		"unreadable value stays unreadable": {
			"resources": {"requests": {"cpu": "lots"}},
			"section": "requests",
			"want": {"value": "lots", "error": _not_a_quantity},
		},
	}
	obj := object.union(_resource_pod(tc.resources), {"apply_defaults": true})
	_resource_of(obj, data.pod.config, tc.section, "cpu") == tc.want
}

test_resource_with_defaults_applied_missing[note] if {
	some note, tc in {
		"defaults not applied": {"apply": false, "resources": null, "section": "requests", "name": "cpu"},
		"no default for the resource": {"apply": true, "resources": null, "section": "requests", "name": "ephemeral-storage"},
		"no request next to an unreadable limit": {
			"apply": true,
			"resources": {"limits": {"cpu": "lots"}},
			"section": "requests", "name": "cpu",
		},
		"no limit next to an unreadable request": {
			"apply": true,
			"resources": {"requests": {"cpu": "lots"}},
			"section": "limits", "name": "cpu",
		},
	}
	obj := object.union(_resource_pod(tc.resources), {"apply_defaults": tc.apply})
	not _resource_of(obj, data.pod.config, tc.section, tc.name)
}

test_added_by_defaults if {
	obj := {"spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}
	lib.added_by_defaults == {} with input as testing.input_of(obj)
	got := lib.added_by_defaults with input as testing.input_of(object.union(obj, {"apply_defaults": true}))
	got == {"spec.containers[0]": {"limits": {
		"cpu": {"value": "1", "number": 1},
		"memory": {"value": "1Gi", "number": 1073741824},
	}}}
}

test_resource_violations[note] if {
	some note, tc in {
		"missing without example": {
			"rule": {"resources": ["cpu"]},
			"resources": {},
			"want": {{
				"msg": "cpu request is not set",
				"field": "spec.containers[0].resources.requests.cpu",
				"container": "app",
				"fix": "set resources.requests.cpu",
			}},
		},
		"below min": {
			"rule": {"resources": ["cpu"], "min": {"cpu": "10m"}},
			"resources": {"requests": {"cpu": "5m"}},
			"want": {{
				"msg": `cpu request "5m" is below the minimum "10m"`,
				"field": "spec.containers[0].resources.requests.cpu",
				"container": "app",
				"fix": `raise resources.requests.cpu to at least "10m"`,
			}},
		},
		"above max with bare numbers": {
			"rule": {"resources": ["cpu"], "max": {"cpu": 1}},
			"resources": {"requests": {"cpu": 1.5}},
			"want": {{
				"msg": "cpu request 1.5 is above the maximum 1",
				"field": "spec.containers[0].resources.requests.cpu",
				"container": "app",
				"fix": "lower resources.requests.cpu to at most 1",
			}},
		},
		"bounds on a resource that is not required": {
			"rule": {"resources": [], "max": {"memory": "1Gi"}},
			"resources": {"requests": {"memory": "2Gi"}},
			"want": {{
				"msg": `memory request "2Gi" is above the maximum "1Gi"`,
				"field": "spec.containers[0].resources.requests.memory",
				"container": "app",
				"fix": `lower resources.requests.memory to at most "1Gi"`,
			}},
		},
		"equal to the bounds": {
			"rule": {"resources": ["cpu"], "min": {"cpu": "100m"}, "max": {"cpu": 0.1}},
			"resources": {"requests": {"cpu": "100m"}},
			"want": set(),
		},
		"unreadable value is a violation, not a pass": {
			"rule": {"resources": ["cpu"], "min": {"cpu": "100m"}},
			"resources": {"requests": {"cpu": "lots"}},
			"want": {{
				"msg": `cpu request "lots" is not a quantity such as 500m, 2 or 256Mi`,
				"field": "spec.containers[0].resources.requests.cpu",
				"container": "app",
				"fix": "write resources.requests.cpu as a quantity such as 500m, 2 or 256Mi",
			}},
		},
		"unreadable value of a bounded resource that is not required": {
			"rule": {"resources": [], "max": {"memory": "1Gi"}},
			"resources": {"requests": {"memory": "1 Gi"}},
			"want": {{
				"msg": `memory request "1 Gi" is not a quantity such as 500m, 2 or 256Mi`,
				"field": "spec.containers[0].resources.requests.memory",
				"container": "app",
				"fix": "write resources.requests.memory as a quantity such as 500m, 2 or 256Mi",
			}},
		},
		"unreadable value of a resource the rule does not read": {
			"rule": {"resources": ["cpu"]},
			"resources": {"requests": {"cpu": "1", "nvidia.com/gpu": "one"}},
			"want": set(),
		},
		"value that is not a string or number": {
			"rule": {"resources": ["cpu"]},
			"resources": {"requests": {"cpu": {"amount": 1}}},
			"want": {{
				"msg": `cpu request {"amount":1} is not a quantity such as 500m, 2 or 256Mi`,
				"field": "spec.containers[0].resources.requests.cpu",
				"container": "app",
				"fix": "write resources.requests.cpu as a quantity such as 500m, 2 or 256Mi",
			}},
		},
		"other section is not looked at": {
			"rule": {"resources": ["cpu"], "max": {"cpu": "1"}},
			"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "8"}},
			"want": set(),
		},
		"unreadable value in the other section is not looked at": {
			"rule": {"resources": ["cpu"]},
			"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "lots"}},
			"want": set(),
		},
	}
	_resource_result(tc.rule, tc.resources) == tc.want
}

# The fix hints give the mutation default as an example where there is one.
test_resource_violations_example_from_defaults if {
	cfg := {
		"rules": {"resources-requests": {"resources": ["cpu", "memory"]}},
		"defaults": {"resources": {"requests": {"cpu": 0.25}}},
	}
	obj := {"spec": {"containers": [
		{"name": "app"},
		{"name": "db", "resources": {"requests": {"cpu": "a quarter", "memory": "lots"}}},
	]}}
	got := lib.resource_violations("resources-requests", "requests") with input as testing.input_with(obj, cfg)
		with data.pod.config as cfg
	got == {
		{
			"msg": "cpu request is not set",
			"field": "spec.containers[0].resources.requests.cpu",
			"container": "app",
			"fix": "set resources.requests.cpu, e.g. 0.25",
		},
		{
			"msg": "memory request is not set",
			"field": "spec.containers[0].resources.requests.memory",
			"container": "app",
			"fix": "set resources.requests.memory",
		},
		{
			"msg": `cpu request "a quarter" is not a quantity such as 500m, 2 or 256Mi`,
			"field": "spec.containers[1].resources.requests.cpu",
			"container": "db",
			"fix": "write resources.requests.cpu as a quantity Kubernetes can use, e.g. 0.25",
		},
		{
			"msg": `memory request "lots" is not a quantity such as 500m, 2 or 256Mi`,
			"field": "spec.containers[1].resources.requests.memory",
			"container": "db",
			"fix": "write resources.requests.memory as a quantity such as 500m, 2 or 256Mi",
		},
	}
}

test_resource_violations_skip_ephemeral_containers if {
	cfg := {"rules": {"resources-requests": {"resources": ["cpu"], "containerTypes": lib.container_types}}}
	obj := {"spec": {
		"containers": [{"name": "a"}],
		"initContainers": [{"name": "b"}],
		"ephemeralContainers": [{"name": "c", "resources": {"requests": {"cpu": "lots"}}}],
	}}
	got := {v.field | some v in lib.resource_violations("resources-requests", "requests")}
		with input as testing.input_with(obj, cfg)
		with data.pod.config as cfg
	got == {"spec.containers[0].resources.requests.cpu", "spec.initContainers[0].resources.requests.cpu"}
}

# With the defaults applied, what the mutation adds is not missing, and the bounds see it.
test_resource_violations_with_defaults_applied[note] if {
	some note, tc in {
		"added values are not missing": {
			"rule": {"resources": ["cpu", "memory"]},
			"resources": null,
			"want": set(),
		},
		"a resource without a default is still missing": {
			"rule": {"resources": ["cpu", "ephemeral-storage"]},
			"resources": null,
			"want": {"ephemeral-storage request is not set"},
		},
		"bounds see the added value": {
			"rule": {"resources": ["cpu"], "min": {"cpu": "200m"}},
			"resources": null,
			"want": {`cpu request "100m" is below the minimum "200m"`},
		},
		"bounds see the request capped by the limit": {
			"rule": {"resources": ["cpu"], "min": {"cpu": "100m"}},
			"resources": {"limits": {"cpu": "50m"}},
			"want": {`cpu request "50m" is below the minimum "100m"`},
		},
	}
	cfg := object.union(data.pod.config, {"rules": {"resources-requests": tc.rule}})
	obj := object.union(_resource_pod(tc.resources), {"apply_defaults": true})
	got := {v.msg | some v in lib.resource_violations("resources-requests", "requests")}
		with input as testing.input_with(obj, cfg)
		with data.pod.config as cfg
	got == tc.want
}

test_resource_field if {
	got := lib.resource_field({"path": "spec.template.spec.initContainers[2]"}, "limits", "memory")
	got == "spec.template.spec.initContainers[2].resources.limits.memory"
}

# Pod-level resources (spec.resources) are shared by the containers: with podLevel counts
# (the default) a pod-level value stands for the containers' own, a pod-level limit stands
# for the requests too (the API server takes the pod-level request from it), and pod-level
# values are held to the bounds.
test_resource_violations_pod_level[note] if {
	some note, tc in {
		"pod-level requests stand for the containers' requests": {
			"rule": {},
			"pod": {"requests": {"cpu": "200m", "memory": "100Mi"}},
			"section": "requests",
			"want": set(),
		},
		"a pod-level limit stands for the requests too": {
			"rule": {},
			"pod": {"limits": {"cpu": "400m", "memory": "200Mi"}},
			"section": "requests",
			"want": set(),
		},
		"pod-level requests do not stand for limits": {
			"rule": {},
			"pod": {"requests": {"cpu": "200m", "memory": "100Mi"}},
			"section": "limits",
			"want": {"cpu limit is not set", "memory limit is not set"},
		},
		"a resource the Pod does not set is still required of each container": {
			"rule": {},
			"pod": {"limits": {"cpu": "400m"}},
			"section": "limits",
			"want": {"memory limit is not set"},
		},
		"podLevel ignored: every container sets its own": {
			"rule": {"podLevel": "ignored"},
			"pod": {"requests": {"cpu": "200m", "memory": "100Mi"}},
			"section": "requests",
			"want": {"cpu request is not set", "memory request is not set"},
		},
		"a pod-level value above the maximum": {
			"rule": {"max": {"memory": "100Mi"}},
			"pod": {"limits": {"cpu": "400m", "memory": "200Mi"}},
			"section": "limits",
			"want": {`pod-level memory limit "200Mi" is above the maximum "100Mi"`},
		},
		"a pod-level value below the minimum": {
			"rule": {"min": {"cpu": "300m"}},
			"pod": {"requests": {"cpu": "200m", "memory": "100Mi"}},
			"section": "requests",
			"want": {`pod-level cpu request "200m" is below the minimum "300m"`},
		},
		"a pod-level value that cannot be read": {
			"rule": {},
			"pod": {"requests": {"cpu": "lots", "memory": "100Mi"}},
			"section": "requests",
			"want": {`pod-level cpu request "lots" is not a quantity such as 500m, 2 or 256Mi`},
		},
	}
	id := {"requests": "resources-requests", "limits": "resources-limits"}[tc.section]
	cfg := object.union(data.pod.config, {"rules": {id: tc.rule}})
	obj := {"spec": {"resources": tc.pod, "containers": [{"name": "a"}, {"name": "b"}]}}
	got := {v.msg | some v in lib.resource_violations(id, tc.section)} with input as testing.input_with(obj, cfg)
		with data.pod.config as cfg
	got == tc.want
}

test_resource_violations_pod_level_field if {
	cfg := object.union(data.pod.config, {"rules": {"resources-limits": {"max": {"memory": "100Mi"}}}})
	obj := {"spec_path": "spec.template.spec", "spec": {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}, "containers": []}}
	got := lib.resource_violations("resources-limits", "limits") with input as testing.input_with(obj, cfg)
		with data.pod.config as cfg
	got == {{
		"msg": `pod-level memory limit "1Gi" is above the maximum "100Mi"`,
		"field": "spec.template.spec.resources.limits.memory",
		"container": "",
		"fix": `lower the Pod's resources.limits.memory to at most "100Mi"`,
	}}
}
