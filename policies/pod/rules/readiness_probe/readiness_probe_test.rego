package pod.rules.readiness_probe_test

import data.pod.rules.readiness_probe
import data.pod.testing

_pod(spec) := {"kind": "Pod", "namespace": "default", "name": "web", "spec": spec}

_config(rule) := object.union(data.pod.config, {"rules": {"readiness-probe": rule}})

_got(obj, cfg) := {[v.container, v.field, v.msg] |
	some v in readiness_probe.violation with input as testing.input_with(obj, cfg) with data.pod.config as cfg
}

test_readiness[note] if {
	some note, tc in {
		"probed": {
			"input": _pod({"containers": [{"name": "app", "readinessProbe": {"tcpSocket": {"port": 80}}}]}),
			"want": set(),
		},
		"other probes do not count": {
			"input": _pod({"containers": [{
				"name": "app",
				"livenessProbe": {"tcpSocket": {"port": 80}},
				"startupProbe": {"tcpSocket": {"port": 80}},
			}]}),
			"want": {["app", "spec.containers[0].readinessProbe", "readinessProbe is not set"]},
		},
		"null probe on a native sidecar": {
			"input": _pod({
				"containers": [{"name": "app", "readinessProbe": {"exec": {"command": ["true"]}}}],
				"initContainers": [
					{"name": "init"},
					{"name": "proxy", "restartPolicy": "Always", "readinessProbe": null},
				],
				"ephemeralContainers": [{"name": "debug"}],
			}),
			"want": {["proxy", "spec.initContainers[1].readinessProbe", "readinessProbe is not set"]},
		},
		"deployment paths": {
			"input": object.union(_pod({"containers": [{"name": "app"}]}), {"spec_path": "spec.template.spec"}),
			"want": {["app", "spec.template.spec.containers[0].readinessProbe", "readinessProbe is not set"]},
		},
	}
	_got(tc.input, data.pod.config) == tc.want
}

test_readiness_restricted_handlers if {
	inp := _pod({"containers": [
		{"name": "a", "readinessProbe": {"grpc": {"port": 1}}},
		{"name": "b", "readinessProbe": {"exec": {"command": ["true"]}}},
		{"name": "c", "readinessProbe": {"httpGet": {"port": 1}}},
	]})
	_got(inp, _config({"handlers": ["httpGet"]})) == {
		[
			"a", "spec.containers[0].readinessProbe",
			"readinessProbe uses grpc, which is not accepted here (accepted: httpGet)",
		],
		[
			"b", "spec.containers[1].readinessProbe",
			"readinessProbe uses exec, which is not accepted here (accepted: httpGet)",
		],
	}
}

test_readiness_full_violation if {
	inp := _pod({"containers": [{"name": "app", "readinessProbe": {"grpc": {"port": 1}}}]})
	cfg := _config({"handlers": ["httpGet", "tcpSocket"]})
	got := readiness_probe.violation with input as testing.input_with(inp, cfg) with data.pod.config as cfg
	got == {{
		"msg": "readinessProbe uses grpc, which is not accepted here (accepted: httpGet, tcpSocket)",
		"field": "spec.containers[0].readinessProbe",
		"container": "app",
		"fix": "replace the grpc handler of readinessProbe with httpGet or tcpSocket",
	}}
}
