package pod.lib_test

import data.pod.lib
import data.pod.testing

_probe_pod(container) := testing.pod({"containers": [container]})

_probe_config(handlers) := {"rules": {"liveness-probe": {"containerTypes": ["containers"], "handlers": handlers}}}

_probe_result(container, handlers) := result if {
	result := lib.probe_violations("liveness-probe", "livenessProbe") with input as _probe_pod(container)
		with data.pod.config as _probe_config(handlers)
}

test_probe_violations_messages[note] if {
	some note, tc in {
		"missing": {
			"container": {"name": "app"},
			"handlers": lib.probe_handlers,
			"want": {{
				"msg": "livenessProbe is not set",
				"field": "spec.containers[0].livenessProbe",
				"container": "app",
				"fix": "set livenessProbe (handler: exec, httpGet, tcpSocket or grpc), so the kubelet restarts the container when it stops responding",
			}},
		},
		"null": {
			"container": {"name": "app", "livenessProbe": null},
			"handlers": ["httpGet"],
			"want": {{
				"msg": "livenessProbe is not set",
				"field": "spec.containers[0].livenessProbe",
				"container": "app",
				"fix": "set livenessProbe (handler: httpGet), so the kubelet restarts the container when it stops responding",
			}},
		},
		"no handler": {
			"container": {"name": "app", "livenessProbe": {"periodSeconds": 5}},
			"handlers": ["exec", "httpGet"],
			"want": {{
				"msg": "livenessProbe has no handler",
				"field": "spec.containers[0].livenessProbe",
				"container": "app",
				"fix": "set livenessProbe (handler: exec or httpGet), so the kubelet restarts the container when it stops responding",
			}},
		},
		"handler not accepted": {
			"container": {"name": "app", "livenessProbe": {"grpc": {"port": 9090}}},
			"handlers": ["exec", "httpGet", "tcpSocket"],
			"want": {{
				"msg": "livenessProbe uses grpc, which is not accepted here (accepted: exec, httpGet, tcpSocket)",
				"field": "spec.containers[0].livenessProbe",
				"container": "app",
				"fix": "replace the grpc handler of livenessProbe with exec, httpGet or tcpSocket",
			}},
		},
		"null handler is no handler": {
			"container": {"name": "app", "livenessProbe": {"exec": null}},
			"handlers": ["exec"],
			"want": {{
				"msg": "livenessProbe has no handler",
				"field": "spec.containers[0].livenessProbe",
				"container": "app",
				"fix": "set livenessProbe (handler: exec), so the kubelet restarts the container when it stops responding",
			}},
		},
		"several handlers, none accepted": {
			"container": {"name": "app", "livenessProbe": {"exec": {"command": ["true"]}, "httpGet": {"port": 80}}},
			"handlers": ["grpc"],
			"want": {{
				"msg": "livenessProbe uses exec, httpGet, which is not accepted here (accepted: grpc)",
				"field": "spec.containers[0].livenessProbe",
				"container": "app",
				"fix": "replace the exec, httpGet handler of livenessProbe with grpc",
			}},
		},
		"accepted": {
			"container": {"name": "app", "livenessProbe": {"tcpSocket": {"port": 80}}},
			"handlers": lib.probe_handlers,
			"want": set(),
		},
		"accepted among several": {
			"container": {"name": "app", "livenessProbe": {"exec": {"command": ["true"]}}},
			"handlers": ["grpc", "exec"],
			"want": set(),
		},
	}
	_probe_result(tc.container, tc.handlers) == tc.want
}

# A rule configuration without handlers or containerTypes behaves like the default one.
test_probe_violations_default_settings if {
	inp := testing.pod({
		"containers": [{"name": "app", "livenessProbe": {"grpc": {"port": 1}}}],
		"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
	})
	got := {v.field | some v in lib.probe_violations("liveness-probe", "livenessProbe")} with input as inp
		with data.pod.config as {"rules": {}}
	got == {"spec.initContainers[0].livenessProbe"}
}
