package pod.rules.resources_requests_test

import data.pod.rules.resources_requests
import data.pod.testing

_full := {"requests": {"cpu": "100m", "memory": "128Mi"}}

_pod(spec) := {"kind": "Pod", "namespace": "default", "name": "web", "spec": spec}

_deployment(spec) := object.union(_pod(spec), {
	"kind": "Deployment",
	"labels_path": "spec.template.metadata.labels",
	"spec_path": "spec.template.spec",
})

_config(rule) := object.union(data.pod.config, {"rules": {"resources-requests": rule}})

_got(obj, cfg) := {[v.container, v.field, v.msg] |
	some v in resources_requests.violation with input as testing.input_with(obj, cfg) with data.pod.config as cfg
}

test_requests[note] if {
	some note, tc in {
		"all set": {
			"input": _pod({
				"containers": [{"name": "app", "resources": _full}],
				"initContainers": [{"name": "init", "resources": _full}],
			}),
			"want": set(),
		},
		"missing resources": {
			"input": _pod({"containers": [{"name": "app"}]}),
			"want": {
				["app", "spec.containers[0].resources.requests.cpu", "cpu request is not set"],
				["app", "spec.containers[0].resources.requests.memory", "memory request is not set"],
			},
		},
		"null and empty string count as missing": {
			"input": _pod({"containers": [{"name": "app", "resources": {"requests": {"cpu": "", "memory": null}}}]}),
			"want": {
				["app", "spec.containers[0].resources.requests.cpu", "cpu request is not set"],
				["app", "spec.containers[0].resources.requests.memory", "memory request is not set"],
			},
		},
		"limits do not stand in for requests": {
			"input": _pod({"containers": [{
				"name": "app",
				"resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1", "memory": "1Gi"}},
			}]}),
			"want": {["app", "spec.containers[0].resources.requests.memory", "memory request is not set"]},
		},
		"bare numbers are values": {
			"input": _pod({"containers": [{"name": "app", "resources": {"requests": {"cpu": 0.05, "memory": 0}}}]}),
			"want": set(),
		},
		"init containers and native sidecars": {
			"input": _pod({
				"containers": [{"name": "app", "resources": _full}],
				"initContainers": [
					{"name": "migrate", "resources": {"requests": {"cpu": "1"}}},
					{"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"memory": "1Gi"}}},
				],
			}),
			"want": {
				["migrate", "spec.initContainers[0].resources.requests.memory", "memory request is not set"],
				["proxy", "spec.initContainers[1].resources.requests.cpu", "cpu request is not set"],
			},
		},
		"ephemeral containers are never checked": {
			"input": _pod({
				"containers": [{"name": "app", "resources": _full}],
				"ephemeralContainers": [{"name": "debug"}],
			}),
			"want": set(),
		},
		"workload paths": {
			"input": _deployment({"containers": [{"name": "app", "resources": {"requests": {"cpu": "1"}}}]}),
			"want": {["app", "spec.template.spec.containers[0].resources.requests.memory", "memory request is not set"]},
		},
		"no spec": {"input": {"kind": "Pod", "spec_path": "spec"}, "want": set()},
	}
	_got(tc.input, data.pod.config) == tc.want
}

test_requests_configured[note] if {
	some note, tc in {
		"only cpu": {
			"rule": {"resources": ["cpu"]},
			"spec": {"containers": [{"name": "app"}]},
			"want": {["app", "spec.containers[0].resources.requests.cpu", "cpu request is not set"]},
		},
		"extended resources": {
			"rule": {"resources": ["ephemeral-storage"]},
			"spec": {"containers": [{"name": "app", "resources": _full}]},
			"want": {[
				"app", "spec.containers[0].resources.requests.ephemeral-storage",
				"ephemeral-storage request is not set",
			]},
		},
		"containers only": {
			"rule": {"containerTypes": ["containers"]},
			"spec": {"containers": [{"name": "app", "resources": _full}], "initContainers": [{"name": "init"}]},
			"want": set(),
		},
		"init containers only": {
			"rule": {"containerTypes": ["initContainers"], "resources": ["cpu"]},
			"spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "init"}]},
			"want": {["init", "spec.initContainers[0].resources.requests.cpu", "cpu request is not set"]},
		},
		"ephemeral listed is still skipped": {
			"rule": {"containerTypes": ["ephemeralContainers"]},
			"spec": {"ephemeralContainers": [{"name": "debug"}]},
			"want": set(),
		},
		"below min": {
			"rule": {"min": {"cpu": "10m", "memory": "64Mi"}},
			"spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": 0.005, "memory": "64Mi"}}}]},
			"want": {["app", "spec.containers[0].resources.requests.cpu", `cpu request 0.005 is below the minimum "10m"`]},
		},
		"above max: 6Gi is more than 6G": {
			"rule": {"max": {"memory": "6G"}},
			"spec": {"containers": [
				{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "6Gi"}}},
				{"name": "b", "resources": {"requests": {"cpu": "1", "memory": "6G"}}},
				{"name": "c", "resources": {"requests": {"cpu": "1", "memory": 6000000000}}},
			]},
			"want": {["a", "spec.containers[0].resources.requests.memory", `memory request "6Gi" is above the maximum "6G"`]},
		},
		"above max in bytes": {
			"rule": {"max": {"memory": "100Mi"}},
			"spec": {"containers": [
				{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "104857599"}}},
				{"name": "b", "resources": {"requests": {"cpu": "1", "memory": "104857601"}}},
			]},
			"want": {[
				"b", "spec.containers[1].resources.requests.memory",
				`memory request "104857601" is above the maximum "100Mi"`,
			]},
		},
		"bare number max": {
			"rule": {"max": {"cpu": 2}},
			"spec": {"containers": [
				{"name": "a", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
				{"name": "b", "resources": {"requests": {"cpu": "2001m", "memory": "1Gi"}}},
			]},
			"want": {["b", "spec.containers[1].resources.requests.cpu", `cpu request "2001m" is above the maximum 2`]},
		},
	}
	_got(_pod(tc.spec), _config(tc.rule)) == tc.want
}

test_requests_full_violation if {
	got := resources_requests.violation with input as testing.input_of(_deployment({"containers": [{
		"name": "app",
		"resources": {"requests": {"cpu": "100m"}},
	}]}))
	got == {{
		"msg": "memory request is not set",
		"field": "spec.template.spec.containers[0].resources.requests.memory",
		"container": "app",
		"fix": `set resources.requests.memory, e.g. "128Mi"`,
	}}
}

# The rule reports even when it is off: main.rego decides what an enforcement means.
test_requests_reported_when_off if {
	inp := _pod({"containers": [{"name": "app", "resources": _full}], "initContainers": [{"name": "i"}]})
	got := _got(inp, _config({"enforcement": "off", "resources": ["cpu"]}))
	got == {["i", "spec.initContainers[0].resources.requests.cpu", "cpu request is not set"]}
}
