package pod_test

import data.pod

_good_container := {
	"name": "app",
	"image": "app:1.0",
	"resources": {
		"requests": {"cpu": "100m", "memory": "128Mi"},
		"limits": {"cpu": "500m", "memory": "256Mi"},
	},
	"livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
	"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
}

_pod(namespace, containers) := {
	"kind": "Pod", "namespace": namespace, "name": "web",
	"labels": {"app.kubernetes.io/name": "web"}, "labels_path": "metadata.labels",
	"spec_path": "spec", "spec": {"containers": containers},
}

_good := _pod("default", [_good_container])

# A Pod that breaks only image-tag and liveness-probe.
_bad := _pod("default", [object.union(object.remove(_good_container, ["livenessProbe"]), {"image": "app:latest"})])

_config(patch) := object.union(data.pod.config, patch)

# [rule, field] of every element of one list of the decision, in order.
_list(d, enforcement) := [[v.rule, v.field] | some v in d[enforcement]]

_image_field := "spec.containers[0].image"

_liveness_field := "spec.containers[0].livenessProbe"

test_clean_pod_has_all_keys_empty if {
	pod.decision == {"deny": [], "warn": [], "audit": []} with input as _good
}

test_violation_shape if {
	d := pod.decision with input as _bad
	d.deny[0] == {
		"rule": "image-tag",
		"enforcement": "deny",
		"msg": `image "app:latest" uses the disallowed tag "latest"`,
		"field": "spec.containers[0].image",
		"container": "app",
		"fix": `use a version tag or a digest instead of "latest", e.g. "app:<version>"`,
	}
}

test_default_enforcement if {
	d := pod.decision with input as _bad
	_list(d, "deny") == [["image-tag", _image_field], ["liveness-probe", _liveness_field]]
	d.warn == []
	d.audit == []
}

# startup-probe is off by default: its violation exists but never reaches the decision.
test_off_rule_is_dropped if {
	count(data.pod.rules.startup_probe.violation) == 1 with input as _good
	pod.decision == {"deny": [], "warn": [], "audit": []} with input as _good
}

test_rule_enforcement_from_config[note] if {
	some note, tc in {
		"warn": {
			"rules": {"image-tag": {"enforcement": "warn"}},
			"deny": [["liveness-probe", _liveness_field]],
			"warn": [["image-tag", _image_field]],
			"audit": [],
		},
		"audit": {
			"rules": {"liveness-probe": {"enforcement": "audit"}},
			"deny": [["image-tag", _image_field]],
			"warn": [],
			"audit": [["liveness-probe", _liveness_field]],
		},
		"off": {
			"rules": {"image-tag": {"enforcement": "off"}, "liveness-probe": {"enforcement": "off"}},
			"deny": [],
			"warn": [],
			"audit": [],
		},
		"startup probe turned on": {
			"rules": {"startup-probe": {"enforcement": "warn"}},
			"deny": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"warn": [["startup-probe", "spec.containers[0].startupProbe"]],
			"audit": [],
		},
		"unknown enforcement is dropped": {
			"rules": {"image-tag": {"enforcement": "maybe"}},
			"deny": [["liveness-probe", _liveness_field]],
			"warn": [],
			"audit": [],
		},
	}
	d := pod.decision with input as _bad with data.pod.config as _config({"rules": tc.rules})
	_list(d, "deny") == tc.deny
	_list(d, "warn") == tc.warn
	_list(d, "audit") == tc.audit
	every v in d[_] {
		v.enforcement in {"deny", "warn", "audit"}
	}
}

test_enforcement_recorded_on_each_violation if {
	cfg := _config({"rules": {"image-tag": {"enforcement": "audit"}}})
	d := pod.decision with input as _bad with data.pod.config as cfg
	[v.enforcement | some v in d.audit] == ["audit"]
	[v.enforcement | some v in d.deny] == ["deny"]
}

test_sorted_by_rule_then_field_then_msg if {
	inp := _pod("default", [
		{"name": "z", "image": "z:latest"},
		{"name": "a", "image": "a"},
	])
	d := pod.decision with input as object.union(inp, {"labels": null})
	[[v.rule, v.field, v.msg] | some v in d.deny] == [
		["image-tag", "spec.containers[0].image", `image "z:latest" uses the disallowed tag "latest"`],
		["image-tag", "spec.containers[1].image", `image "a" has neither a tag nor a digest, so the runtime pulls "latest"`],
		["liveness-probe", "spec.containers[0].livenessProbe", "livenessProbe is not set"],
		["liveness-probe", "spec.containers[1].livenessProbe", "livenessProbe is not set"],
		["readiness-probe", "spec.containers[0].readinessProbe", "readinessProbe is not set"],
		["readiness-probe", "spec.containers[1].readinessProbe", "readinessProbe is not set"],
		["required-labels", `metadata.labels["app.kubernetes.io/name"]`, `required label "app.kubernetes.io/name" is not set`],
		["resources-limits", "spec.containers[0].resources.limits.cpu", "cpu limit is not set"],
		["resources-limits", "spec.containers[0].resources.limits.memory", "memory limit is not set"],
		["resources-limits", "spec.containers[1].resources.limits.cpu", "cpu limit is not set"],
		["resources-limits", "spec.containers[1].resources.limits.memory", "memory limit is not set"],
		["resources-requests", "spec.containers[0].resources.requests.cpu", "cpu request is not set"],
		["resources-requests", "spec.containers[0].resources.requests.memory", "memory request is not set"],
		["resources-requests", "spec.containers[1].resources.requests.cpu", "cpu request is not set"],
		["resources-requests", "spec.containers[1].resources.requests.memory", "memory request is not set"],
	]
}

test_same_field_sorted_by_msg if {
	custom := {
		{"msg": "b", "field": "spec.x", "container": "", "fix": ""},
		{"msg": "a", "field": "spec.x", "container": "", "fix": ""},
		{"msg": "c", "field": "spec.a", "container": "", "fix": ""},
	}
	d := pod.decision with input as _good with data.pod.rules.custom.violation as custom
	[[v.field, v.msg] | some v in d.deny] == [["spec.a", "c"], ["spec.x", "a"], ["spec.x", "b"]]
}

test_namespace_overrides[note] if {
	some note, tc in {
		"no override": {
			"namespace": "default",
			"overrides": [{"names": ["legacy-*"], "enforcement": "warn"}],
			"deny": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"warn": [],
			"audit": [],
		},
		"glob match applies to all rules": {
			"namespace": "legacy-billing",
			"overrides": [{"names": ["legacy-*"], "enforcement": "warn"}],
			"deny": [],
			"warn": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"audit": [],
		},
		"exact name": {
			"namespace": "sandbox",
			"overrides": [{"names": ["dev", "sandbox"], "enforcement": "audit"}],
			"deny": [],
			"warn": [],
			"audit": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
		},
		"rules list limits the override": {
			"namespace": "legacy-billing",
			"overrides": [{"names": ["legacy-*"], "enforcement": "off", "rules": ["image-tag"]}],
			"deny": [["liveness-probe", _liveness_field]],
			"warn": [],
			"audit": [],
		},
		"first match wins": {
			"namespace": "legacy-billing",
			"overrides": [
				{"names": ["legacy-billing"], "enforcement": "audit", "rules": ["liveness-probe"]},
				{"names": ["legacy-*"], "enforcement": "warn"},
				{"names": ["*"], "enforcement": "off"},
			],
			"deny": [],
			"warn": [["image-tag", _image_field]],
			"audit": [["liveness-probe", _liveness_field]],
		},
		"override can raise to deny": {
			"namespace": "prod",
			"overrides": [{"names": ["prod"], "enforcement": "deny", "rules": ["startup-probe"]}],
			"deny": [
				["image-tag", _image_field], ["liveness-probe", _liveness_field],
				["startup-probe", "spec.containers[0].startupProbe"],
			],
			"warn": [],
			"audit": [],
		},
		"an override without rules does not switch on an off rule": {
			"namespace": "prod",
			"overrides": [{"names": ["prod"], "enforcement": "warn"}],
			"deny": [],
			"warn": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"audit": [],
		},
		"empty rules list covers no rule": {
			"namespace": "prod",
			"overrides": [{"names": ["prod"], "enforcement": "off", "rules": []}],
			"deny": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"warn": [],
			"audit": [],
		},
		"override without enforcement is skipped": {
			"namespace": "prod",
			"overrides": [{"names": ["prod"]}, {"names": ["*"], "enforcement": "audit", "rules": ["image-tag"]}],
			"deny": [["liveness-probe", _liveness_field]],
			"warn": [],
			"audit": [["image-tag", _image_field]],
		},
		"glob does not stop at dots or dashes": {
			"namespace": "team.a-dev",
			"overrides": [{"names": ["team*dev"], "enforcement": "warn"}],
			"deny": [],
			"warn": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"audit": [],
		},
		"namespace label selector": {
			"namespace": "billing",
			"labels": {"podguard.io/stage": "legacy"},
			"overrides": [{"namespaceSelector": {"matchLabels": {"podguard.io/stage": "legacy"}}, "enforcement": "warn"}],
			"deny": [],
			"warn": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"audit": [],
		},
		"label selector that does not match": {
			"namespace": "billing",
			"labels": {"podguard.io/stage": "prod"},
			"overrides": [{"namespaceSelector": {"matchLabels": {"podguard.io/stage": "legacy"}}, "enforcement": "warn"}],
			"deny": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"warn": [],
			"audit": [],
		},
		"selector expressions In and Exists match": {
			"namespace": "billing",
			"labels": {"team": "payments", "legacy": ""},
			"overrides": [{
				"namespaceSelector": {"matchExpressions": [
					{"key": "team", "operator": "In", "values": ["payments", "orders"]},
					{"key": "legacy", "operator": "Exists"},
				]},
				"enforcement": "audit",
			}],
			"deny": [],
			"warn": [],
			"audit": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
		},
		"selector expressions NotIn and DoesNotExist match a namespace without the labels": {
			"namespace": "billing",
			"labels": {},
			"overrides": [{
				"namespaceSelector": {"matchExpressions": [
					{"key": "team", "operator": "NotIn", "values": ["platform"]},
					{"key": "strict", "operator": "DoesNotExist"},
				]},
				"enforcement": "warn",
			}],
			"deny": [],
			"warn": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"audit": [],
		},
		"DoesNotExist fails on a label with an empty value": {
			"namespace": "billing",
			"labels": {"strict": ""},
			"overrides": [{"namespaceSelector": {"matchExpressions": [{"key": "strict", "operator": "DoesNotExist"}]}, "enforcement": "warn"}],
			"deny": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"warn": [],
			"audit": [],
		},
		"names and selector must both match": {
			"namespace": "billing",
			"labels": {"podguard.io/stage": "legacy"},
			"overrides": [{"names": ["legacy-*"], "namespaceSelector": {"matchLabels": {"podguard.io/stage": "legacy"}}, "enforcement": "warn"}],
			"deny": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
			"warn": [],
			"audit": [],
		},
		"null rules means all": {
			"namespace": "x",
			"overrides": [{"names": ["x"], "enforcement": "audit", "rules": null}],
			"deny": [],
			"warn": [],
			"audit": [["image-tag", _image_field], ["liveness-probe", _liveness_field]],
		},
	}
	inp := object.union(_bad, {"namespace": tc.namespace, "namespace_labels": object.get(tc, "labels", {})})
	d := pod.decision with input as inp with data.pod.config as _config({"namespaces": {"overrides": tc.overrides}})
	_list(d, "deny") == tc.deny
	_list(d, "warn") == tc.warn
	_list(d, "audit") == tc.audit
}

test_no_namespace_matches_no_override if {
	inp := object.remove(_bad, ["namespace"])
	cfg := _config({"namespaces": {"overrides": [{"names": ["*"], "enforcement": "off"}]}})
	d := pod.decision with input as inp with data.pod.config as cfg
	_list(d, "deny") == [["image-tag", _image_field], ["liveness-probe", _liveness_field]]
}

# 2026-01-01T00:00:00Z
_now := 1767225600000000000

test_enforce_after[note] if {
	some note, tc in {
		"future deny becomes warn": {
			"rule": {"enforcement": "deny", "enforceAfter": "2027-03-01T00:00:00Z"},
			"overrides": [],
			"want": {"image-tag": {"enforcement": "warn", "enforce_after": "2027-03-01T00:00:00Z"}},
		},
		"past deny stays deny": {
			"rule": {"enforcement": "deny", "enforceAfter": "2025-03-01T00:00:00Z"},
			"overrides": [],
			"want": {"image-tag": {"enforcement": "deny"}},
		},
		"exactly now is enforced": {
			"rule": {"enforcement": "deny", "enforceAfter": "2026-01-01T00:00:00Z"},
			"overrides": [],
			"want": {"image-tag": {"enforcement": "deny"}},
		},
		"time zone offsets count": {
			"rule": {"enforcement": "deny", "enforceAfter": "2026-01-01T00:30:00+01:00"},
			"overrides": [],
			"want": {"image-tag": {"enforcement": "deny"}},
		},
		"future audit is untouched": {
			"rule": {"enforcement": "audit", "enforceAfter": "2027-03-01T00:00:00Z"},
			"overrides": [],
			"want": {"image-tag": {"enforcement": "audit"}},
		},
		"future off stays off": {
			"rule": {"enforcement": "off", "enforceAfter": "2027-03-01T00:00:00Z"},
			"overrides": [],
			"want": {},
		},
		"override to deny is held back too": {
			"rule": {"enforcement": "warn", "enforceAfter": "2027-03-01T00:00:00Z"},
			"overrides": [{"names": ["default"], "enforcement": "deny"}],
			"want": {"image-tag": {"enforcement": "warn", "enforce_after": "2027-03-01T00:00:00Z"}},
		},
		"override to warn in the past": {
			"rule": {"enforcement": "deny", "enforceAfter": "2025-03-01T00:00:00Z"},
			"overrides": [{"names": ["default"], "enforcement": "warn", "rules": ["image-tag"]}],
			"want": {"image-tag": {"enforcement": "warn"}},
		},
	}
	cfg := _config({
		"rules": {"image-tag": tc.rule, "liveness-probe": {"enforcement": "off"}},
		"namespaces": {"overrides": tc.overrides},
	})
	d := pod.decision with input as _bad with data.pod.config as cfg with time.now_ns as _now
	got := {v.rule: object.filter(v, {"enforcement", "enforce_after"}) | some list in d; some v in list}
	got == tc.want
}

test_enforce_after_element if {
	cfg := _config({"rules": {"liveness-probe": {"enforceAfter": "2027-03-01T00:00:00Z"}}})
	d := pod.decision with input as _bad with data.pod.config as cfg with time.now_ns as _now
	_list(d, "deny") == [["image-tag", _image_field]]
	d.warn == [{
		"rule": "liveness-probe",
		"enforcement": "warn",
		"enforce_after": "2027-03-01T00:00:00Z",
		"msg": "livenessProbe is not set",
		"field": _liveness_field,
		"container": "app",
		"fix": concat("", [
			"set livenessProbe (handler: exec, httpGet, tcpSocket or grpc), ",
			"so the kubelet restarts the container when it stops responding",
		]),
	}]
}

_custom_violation := {
	"msg": "hostNetwork is true",
	"field": "spec.hostNetwork",
	"container": "",
	"fix": "remove spec.hostNetwork",
}

test_custom_rule_is_discovered_and_denies if {
	d := pod.decision with input as _good with data.pod.rules.no_host_network.violation as {_custom_violation}
	d == {
		"deny": [object.union(_custom_violation, {"rule": "no-host-network", "enforcement": "deny"})],
		"warn": [],
		"audit": [],
	}
}

test_custom_rule_follows_config_and_overrides[note] if {
	some note, tc in {
		"configured warn": {"patch": {"rules": {"no-host-network": {"enforcement": "warn"}}}, "list": "warn"},
		"override audit": {
			"patch": {"namespaces": {"overrides": [
				{"names": ["default"], "enforcement": "audit", "rules": ["no-host-network"]},
			]}},
			"list": "audit",
		},
	}
	d := pod.decision with input as _good
		with data.pod.rules.no_host_network.violation as {_custom_violation}
		with data.pod.config as _config(tc.patch)
	[v.rule | some v in d[tc.list]] == ["no-host-network"]
}

test_custom_rule_loose_violations_are_completed if {
	loose := {"privileged container", {"msg": "no field"}}
	d := pod.decision with input as _good with data.pod.rules.no_privileged.violation as loose
	completed := {"rule": "no-privileged", "enforcement": "deny", "field": "", "container": "", "fix": ""}
	d.deny == [
		object.union(completed, {"msg": "no field"}),
		object.union(completed, {"msg": "privileged container"}),
	]
}

test_workload_decision if {
	inp := object.union(_bad, {
		"kind": "Deployment",
		"labels_path": "spec.template.metadata.labels",
		"spec_path": "spec.template.spec",
	})
	d := pod.decision with input as inp
	_list(d, "deny") == [
		["image-tag", "spec.template.spec.containers[0].image"],
		["liveness-probe", "spec.template.spec.containers[0].livenessProbe"],
	]
}

# With an empty configuration every rule checks with its built-in settings and, being
# unknown to the configuration, denies (startup-probe included).
test_empty_config if {
	d := pod.decision with input as _bad with data.pod.config as {}
	_list(d, "deny") == [
		["image-tag", _image_field],
		["liveness-probe", _liveness_field],
		["startup-probe", "spec.containers[0].startupProbe"],
	]
}
