package pod.lib_test

import data.pod.lib

_probe_pod(container) := {"kind": "Pod", "spec_path": "spec", "spec": {"containers": [container]}}

_probe_config(handlers) := {"rules": {"liveness-probe": {"containerTypes": ["containers"], "handlers": handlers}}}

_probe_result(container, handlers) := result if {
	result := lib.probe_violations("liveness-probe", "livenessProbe", "so it restarts") with input as _probe_pod(container)
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
				"fix": "set livenessProbe (handler: exec, httpGet, tcpSocket or grpc), so it restarts",
			}},
		},
		"null": {
			"container": {"name": "app", "livenessProbe": null},
			"handlers": ["httpGet"],
			"want": {{
				"msg": "livenessProbe is not set",
				"field": "spec.containers[0].livenessProbe",
				"container": "app",
				"fix": "set livenessProbe (handler: httpGet), so it restarts",
			}},
		},
		"no handler": {
			"container": {"name": "app", "livenessProbe": {"periodSeconds": 5}},
			"handlers": ["exec", "httpGet"],
			"want": {{
				"msg": "livenessProbe has no handler",
				"field": "spec.containers[0].livenessProbe",
				"container": "app",
				"fix": "set livenessProbe (handler: exec or httpGet), so it restarts",
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
				"fix": "set livenessProbe (handler: exec), so it restarts",
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
	inp := {"spec_path": "spec", "spec": {
		"containers": [{"name": "app", "livenessProbe": {"grpc": {"port": 1}}}],
		"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
	}}
	got := {v.field | some v in lib.probe_violations("liveness-probe", "livenessProbe", "")} with input as inp
		with data.pod.config as {"rules": {}}
	got == {"spec.initContainers[0].livenessProbe"}
}
