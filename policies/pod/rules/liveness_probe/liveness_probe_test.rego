package pod.rules.liveness_probe_test

import data.pod.rules.liveness_probe
import data.pod.testing

_probe := {"httpGet": {"path": "/healthz", "port": 8080}}

_pod(spec) := {"kind": "Pod", "namespace": "default", "name": "web", "spec": spec}

_config(rule) := object.union(data.pod.config, {"rules": {"liveness-probe": rule}})

_got(obj, cfg) := {[v.container, v.field, v.msg] |
	some v in liveness_probe.violation with input as testing.input_with(obj, cfg) with data.pod.config as cfg
}

# One container of every kind, none with a probe.
_mixed := _pod({
	"containers": [{"name": "app"}],
	"initContainers": [
		{"name": "migrate"},
		{"name": "proxy", "restartPolicy": "Always"},
		{"name": "once", "restartPolicy": "OnFailure"},
	],
	"ephemeralContainers": [{"name": "debug"}],
})

test_liveness[note] if {
	some note, tc in {
		"all probed": {
			"input": _pod({
				"containers": [{"name": "app", "livenessProbe": _probe}],
				"initContainers": [{"name": "proxy", "restartPolicy": "Always", "livenessProbe": {"exec": {"command": ["true"]}}}],
			}),
			"want": set(),
		},
		"only containers and native sidecars are checked": {
			"input": _mixed,
			"want": {
				["app", "spec.containers[0].livenessProbe", "livenessProbe is not set"],
				["proxy", "spec.initContainers[1].livenessProbe", "livenessProbe is not set"],
			},
		},
		"null probe": {
			"input": _pod({"containers": [{"name": "app", "livenessProbe": null}]}),
			"want": {["app", "spec.containers[0].livenessProbe", "livenessProbe is not set"]},
		},
		"probe without handler": {
			"input": _pod({"containers": [{"name": "app", "livenessProbe": {"initialDelaySeconds": 5}}]}),
			"want": {["app", "spec.containers[0].livenessProbe", "livenessProbe has no handler"]},
		},
		"grpc accepted by default": {
			"input": _pod({"containers": [{"name": "app", "livenessProbe": {"grpc": {"port": 9090}}}]}),
			"want": set(),
		},
		"second container": {
			"input": _pod({"containers": [{"name": "app", "livenessProbe": _probe}, {"name": "log"}]}),
			"want": {["log", "spec.containers[1].livenessProbe", "livenessProbe is not set"]},
		},
		"cronjob paths": {
			"input": object.union(_pod({"containers": [{"name": "job"}]}), {
				"kind": "CronJob",
				"spec_path": "spec.jobTemplate.spec.template.spec",
			}),
			"want": {["job", "spec.jobTemplate.spec.template.spec.containers[0].livenessProbe", "livenessProbe is not set"]},
		},
	}
	_got(tc.input, data.pod.config) == tc.want
}

test_liveness_configured[note] if {
	some note, tc in {
		"grpc not accepted": {
			"rule": {"handlers": ["exec", "httpGet", "tcpSocket"]},
			"input": _pod({"containers": [
				{"name": "grpc", "livenessProbe": {"grpc": {"port": 9090}}},
				{"name": "http", "livenessProbe": _probe},
			]}),
			"want": {[
				"grpc", "spec.containers[0].livenessProbe",
				"livenessProbe uses grpc, which is not accepted here (accepted: exec, httpGet, tcpSocket)",
			]},
		},
		"containers only": {
			"rule": {"containerTypes": ["containers"]},
			"input": _mixed,
			"want": {["app", "spec.containers[0].livenessProbe", "livenessProbe is not set"]},
		},
		"sidecars only": {
			"rule": {"containerTypes": ["initContainers"]},
			"input": _mixed,
			"want": {["proxy", "spec.initContainers[1].livenessProbe", "livenessProbe is not set"]},
		},
		"ephemeral listed still never checked": {
			"rule": {"containerTypes": ["ephemeralContainers"]},
			"input": _mixed,
			"want": set(),
		},
	}
	_got(tc.input, _config(tc.rule)) == tc.want
}

test_liveness_full_violation if {
	got := liveness_probe.violation with input as testing.input_of(_pod({"containers": [{"name": "app"}]}))
	got == {{
		"msg": "livenessProbe is not set",
		"field": "spec.containers[0].livenessProbe",
		"container": "app",
		"fix": concat("", [
			"set livenessProbe (handler: exec, httpGet, tcpSocket or grpc), ",
			"so the kubelet restarts the container when it stops responding",
		]),
	}}
}
