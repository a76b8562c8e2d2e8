package pod.rules.startup_probe_test

import data.pod.rules.startup_probe
import data.pod.testing

_pod(spec) := {"kind": "Pod", "namespace": "default", "name": "web", "spec": spec}

_got(obj) := {[v.container, v.field, v.msg] | some v in startup_probe.violation with input as testing.input_of(obj)}

# The rule is off in the default configuration, but still reports: main.rego drops it.
test_startup[note] if {
	some note, tc in {
		"probed": {
			"input": _pod({"containers": [{"name": "app", "startupProbe": {"httpGet": {"port": 8080}}}]}),
			"want": set(),
		},
		"missing on container and sidecar": {
			"input": _pod({
				"containers": [{"name": "app", "livenessProbe": {"httpGet": {"port": 8080}}}],
				"initContainers": [{"name": "init"}, {"name": "proxy", "restartPolicy": "Always"}],
				"ephemeralContainers": [{"name": "debug"}],
			}),
			"want": {
				["app", "spec.containers[0].startupProbe", "startupProbe is not set"],
				["proxy", "spec.initContainers[1].startupProbe", "startupProbe is not set"],
			},
		},
		"null": {
			"input": _pod({"containers": [{"name": "app", "startupProbe": null}]}),
			"want": {["app", "spec.containers[0].startupProbe", "startupProbe is not set"]},
		},
	}
	_got(tc.input) == tc.want
}

test_startup_full_violation if {
	got := startup_probe.violation with input as testing.input_of(_pod({"containers": [{"name": "app"}]}))
	got == {{
		"msg": "startupProbe is not set",
		"field": "spec.containers[0].startupProbe",
		"container": "app",
		"fix": concat("", [
			"set startupProbe (handler: exec, httpGet, tcpSocket or grpc), ",
			"so a slow start is not mistaken for a hang by the liveness probe",
		]),
	}}
}
