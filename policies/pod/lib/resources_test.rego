package pod.lib_test

import data.pod.lib

_resource_pod(resources) := {"spec_path": "spec", "spec": {"containers": [{"name": "app", "resources": resources}]}}

_resource_result(rule, resources) := result if {
	result := lib.resource_violations("resources-requests", "requests") with input as _resource_pod(resources)
		with data.pod.config as {"rules": {"resources-requests": rule}}
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
		"unparseable value is left to the API server": {
			"rule": {"resources": ["cpu"], "min": {"cpu": "100m"}},
			"resources": {"requests": {"cpu": "lots"}},
			"want": set(),
		},
		"other section is not looked at": {
			"rule": {"resources": ["cpu"], "max": {"cpu": "1"}},
			"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "8"}},
			"want": set(),
		},
	}
	_resource_result(tc.rule, tc.resources) == tc.want
}

test_resource_violations_example_from_defaults if {
	cfg := {"rules": {}, "defaults": {"resources": {"requests": {"cpu": 0.25}}}}
	got := lib.resource_violations("resources-requests", "requests") with input as _resource_pod(null)
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
	}
}

test_resource_containers_skip_ephemeral if {
	inp := {"spec_path": "spec", "spec": {
		"containers": [{"name": "a"}],
		"initContainers": [{"name": "b"}],
		"ephemeralContainers": [{"name": "c"}],
	}}
	got := {c.path | some c in lib.resource_containers({"containerTypes": lib.container_types})} with input as inp
	got == {"spec.containers[0]", "spec.initContainers[0]"}
}

test_resource_field if {
	got := lib.resource_field({"path": "spec.template.spec.initContainers[2]"}, "limits", "memory")
	got == "spec.template.spec.initContainers[2].resources.limits.memory"
}
