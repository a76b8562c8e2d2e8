package pod_test

import data.pod
import data.pod.testing

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
	"labels": {"app.kubernetes.io/name": "web"},
	"spec": {"containers": containers},
}

_good := _pod("default", [_good_container])

# A Pod that breaks only image-tag and liveness-probe.
_bad := _pod("default", [object.union(object.remove(_good_container, ["livenessProbe"]), {"image": "app:latest"})])

_config(patch) := object.union(data.pod.config, patch)

# The decision on obj under cfg, with the input podguard would give.
_decision(obj, cfg) := d if {
	d := pod.decision with input as testing.input_with(obj, cfg) with data.pod.config as cfg
}

# [rule, field] of every violation the decision gives this enforcement, sorted.
_list(d, enforcement) := sort([[g.rule, v.field] |
	some g in d
	g.enforcement == enforcement
	some v in g.violations
])

# The enforcement of each rule in the decision (with enforce_after where there is one).
_enforcements(d) := {g.rule: object.filter(g, {"enforcement", "enforce_after"}) | some g in d}

_image_field := "spec.containers[0].image"

_liveness_field := "spec.containers[0].livenessProbe"

_image_violation := {
	"msg": `image "app:latest" uses the disallowed tag "latest"`,
	"field": _image_field,
	"container": "app",
	"fix": `use a version tag or a digest instead of "latest", e.g. "app:<version>"`,
}

_liveness_violation := {
	"msg": "livenessProbe is not set",
	"field": _liveness_field,
	"container": "app",
	"fix": concat("", [
		"set livenessProbe (handler: exec, httpGet, tcpSocket or grpc), ",
		"so the kubelet restarts the container when it stops responding",
	]),
}

test_clean_pod_has_no_groups if {
	_decision(_good, data.pod.config) == set()
}

# One group per rule with violations: the rule, its enforcement and what it emitted.
test_decision_shape if {
	_decision(_bad, data.pod.config) == {
		{"rule": "image-tag", "enforcement": "deny", "violations": {_image_violation}},
		{"rule": "liveness-probe", "enforcement": "deny", "violations": {_liveness_violation}},
	}
}

# startup-probe is off by default: its violation exists but never reaches the decision.
test_off_rule_is_dropped if {
	count(data.pod.rules.startup_probe.violation) == 1 with input as testing.input_of(_good)
	_decision(_good, data.pod.config) == set()
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
	}
	d := _decision(_bad, _config({"rules": tc.rules}))
	_list(d, "deny") == tc.deny
	_list(d, "warn") == tc.warn
	_list(d, "audit") == tc.audit
	every g in d {
		g.enforcement in {"deny", "warn", "audit"}
	}
}

# podguard refuses a configuration with an enforcement it does not know, and a decision
# with one; the policy does not turn it into one it knows.
test_unknown_enforcement_is_passed_on if {
	d := _decision(_bad, _config({"rules": {"image-tag": {"enforcement": "maybe"}}}))
	_enforcements(d) == {"image-tag": {"enforcement": "maybe"}, "liveness-probe": {"enforcement": "deny"}}
}

test_every_rule_is_one_group_with_all_its_violations if {
	obj := object.union(_pod("default", [{"name": "z", "image": "z:latest"}, {"name": "a", "image": "a"}]), {"labels": null})
	d := _decision(obj, data.pod.config)
	count(d) == 6
	{[g.rule, g.enforcement, v.field, v.msg] | some g in d; some v in g.violations} == {
		["image-tag", "deny", "spec.containers[0].image", `image "z:latest" uses the disallowed tag "latest"`],
		["image-tag", "deny", "spec.containers[1].image", `image "a" has neither a tag nor a digest, so the runtime pulls "latest"`],
		["liveness-probe", "deny", "spec.containers[0].livenessProbe", "livenessProbe is not set"],
		["liveness-probe", "deny", "spec.containers[1].livenessProbe", "livenessProbe is not set"],
		["readiness-probe", "deny", "spec.containers[0].readinessProbe", "readinessProbe is not set"],
		["readiness-probe", "deny", "spec.containers[1].readinessProbe", "readinessProbe is not set"],
		["required-labels", "deny", `metadata.labels["app.kubernetes.io/name"]`, `required label "app.kubernetes.io/name" is not set`],
		["resources-limits", "deny", "spec.containers[0].resources.limits.cpu", "cpu limit is not set"],
		["resources-limits", "deny", "spec.containers[0].resources.limits.memory", "memory limit is not set"],
		["resources-limits", "deny", "spec.containers[1].resources.limits.cpu", "cpu limit is not set"],
		["resources-limits", "deny", "spec.containers[1].resources.limits.memory", "memory limit is not set"],
		["resources-requests", "deny", "spec.containers[0].resources.requests.cpu", "cpu request is not set"],
		["resources-requests", "deny", "spec.containers[0].resources.requests.memory", "memory request is not set"],
		["resources-requests", "deny", "spec.containers[1].resources.requests.cpu", "cpu request is not set"],
		["resources-requests", "deny", "spec.containers[1].resources.requests.memory", "memory request is not set"],
	}
}

# A quantity podguard cannot read reaches the decision as a violation.
test_unreadable_quantity_denies if {
	container := object.union(_good_container, {"resources": {
		"requests": {"cpu": "lots", "memory": "128Mi"},
		"limits": {"cpu": "500m", "memory": "256Mi"},
	}})
	d := _decision(_pod("default", [container]), data.pod.config)
	d == {{"rule": "resources-requests", "enforcement": "deny", "violations": {{
		"msg": `cpu request "lots" is not a quantity such as 500m, 2 or 256Mi`,
		"field": "spec.containers[0].resources.requests.cpu",
		"container": "app",
		"fix": `write resources.requests.cpu as a quantity Kubernetes can use, e.g. "100m"`,
	}}}}
}

# A workload's pod template is judged with podguard's defaults applied: what the
# mutation adds is not reported missing.
test_defaults_applied if {
	container := object.remove(_good_container, ["resources"])
	obj := object.union(_pod("default", [container]), {
		"kind": "Deployment",
		"labels_path": "spec.template.metadata.labels",
		"spec_path": "spec.template.spec",
	})
	_decision(object.union(obj, {"apply_defaults": true}), data.pod.config) == set()
	_list(_decision(obj, data.pod.config), "deny") == [
		["resources-limits", "spec.template.spec.containers[0].resources.limits.cpu"],
		["resources-limits", "spec.template.spec.containers[0].resources.limits.memory"],
		["resources-requests", "spec.template.spec.containers[0].resources.requests.cpu"],
		["resources-requests", "spec.template.spec.containers[0].resources.requests.memory"],
	]
}

# Custom rules may emit bare messages or leave fields out: the decision passes them on as
# they are, and podguard completes and sorts them.
test_custom_violations_passed_on_as_emitted if {
	custom := {
		{"msg": "b", "field": "spec.x", "container": "", "fix": ""},
		{"msg": "a", "field": "spec.x", "container": "", "fix": ""},
		"privileged container",
		{"msg": "no field"},
	}
	d := pod.decision with input as testing.input_of(_good) with data.pod.rules.custom.violation as custom
	d == {{"rule": "custom", "enforcement": "deny", "violations": custom}}
}

test_rule_without_violations_has_no_group if {
	d := pod.decision with input as testing.input_of(_good) with data.pod.rules.custom.violation as set()
	d == set()
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
	obj := object.union(_bad, {"namespace": tc.namespace, "namespace_labels": object.get(tc, "labels", {})})
	d := _decision(obj, _config({"namespaces": {"overrides": tc.overrides}}))
	_list(d, "deny") == tc.deny
	_list(d, "warn") == tc.warn
	_list(d, "audit") == tc.audit
}

test_no_namespace_matches_no_override if {
	cfg := _config({"namespaces": {"overrides": [{"names": ["*"], "enforcement": "off"}]}})
	inp := object.remove(testing.input_with(_bad, cfg), ["namespace"])
	d := pod.decision with input as inp with data.pod.config as cfg
	_list(d, "deny") == [["image-tag", _image_field], ["liveness-probe", _liveness_field]]
}

# 2026-01-01T00:00:00Z
_now := 1767225600000000000

_future := "2027-03-01T00:00:00Z"

_past := "2025-03-01T00:00:00Z"

# A namespace override that matches decides. Otherwise a rule with enforceAfter denies from
# then on, and until then has its configured enforcement, warn for a deny.
test_enforce_after[note] if {
	some note, tc in {
		"deny warns until then": {
			"rule": {"enforcement": "deny", "enforceAfter": _future},
			"want": {"image-tag": {"enforcement": "warn", "enforce_after": _future}},
		},
		"deny denies from then on": {
			"rule": {"enforcement": "deny", "enforceAfter": _past},
			"want": {"image-tag": {"enforcement": "deny"}},
		},
		"exactly now is enforced": {
			"rule": {"enforcement": "deny", "enforceAfter": "2026-01-01T00:00:00Z"},
			"want": {"image-tag": {"enforcement": "deny"}},
		},
		"a nanosecond before is not": {
			"rule": {"enforcement": "deny", "enforceAfter": "2026-01-01T00:00:00.000000001Z"},
			"want": {"image-tag": {"enforcement": "warn", "enforce_after": "2026-01-01T00:00:00.000000001Z"}},
		},
		"time zone offsets count": {
			"rule": {"enforcement": "deny", "enforceAfter": "2026-01-01T00:30:00+01:00"},
			"want": {"image-tag": {"enforcement": "deny"}},
		},
		"warn warns until then": {
			"rule": {"enforcement": "warn", "enforceAfter": _future},
			"want": {"image-tag": {"enforcement": "warn", "enforce_after": _future}},
		},
		"warn denies from then on": {
			"rule": {"enforcement": "warn", "enforceAfter": _past},
			"want": {"image-tag": {"enforcement": "deny"}},
		},
		"audit audits until then": {
			"rule": {"enforcement": "audit", "enforceAfter": _future},
			"want": {"image-tag": {"enforcement": "audit", "enforce_after": _future}},
		},
		"audit denies from then on": {
			"rule": {"enforcement": "audit", "enforceAfter": _past},
			"want": {"image-tag": {"enforcement": "deny"}},
		},
		"off stays off before": {
			"rule": {"enforcement": "off", "enforceAfter": _future},
			"want": {},
		},
		"off stays off after": {
			"rule": {"enforcement": "off", "enforceAfter": _past},
			"want": {},
		},
		"override wins before": {
			"rule": {"enforcement": "warn", "enforceAfter": _future},
			"overrides": [{"names": ["default"], "enforcement": "deny"}],
			"want": {"image-tag": {"enforcement": "deny"}},
		},
		"override wins after": {
			"rule": {"enforcement": "deny", "enforceAfter": _past},
			"overrides": [{"names": ["default"], "enforcement": "warn", "rules": ["image-tag"]}],
			"want": {"image-tag": {"enforcement": "warn"}},
		},
		"override to off wins": {
			"rule": {"enforcement": "deny", "enforceAfter": _past},
			"overrides": [{"names": ["default"], "enforcement": "off", "rules": ["image-tag"]}],
			"want": {},
		},
		"override of another namespace leaves enforceAfter to decide": {
			"rule": {"enforcement": "deny", "enforceAfter": _future},
			"overrides": [{"names": ["prod"], "enforcement": "deny"}],
			"want": {"image-tag": {"enforcement": "warn", "enforce_after": _future}},
		},
		"override of another rule leaves enforceAfter to decide": {
			"rule": {"enforcement": "audit", "enforceAfter": _past},
			"overrides": [{"names": ["default"], "enforcement": "audit", "rules": ["readiness-probe"]}],
			"want": {"image-tag": {"enforcement": "deny"}},
		},
	}
	cfg := _config({
		"rules": {"image-tag": tc.rule, "liveness-probe": {"enforcement": "off"}},
		"namespaces": {"overrides": object.get(tc, "overrides", [])},
	})
	d := pod.decision with input as testing.input_with(_bad, cfg) with data.pod.config as cfg with time.now_ns as _now
	_enforcements(d) == tc.want
}

test_enforce_after_group if {
	cfg := _config({"rules": {"liveness-probe": {"enforceAfter": _future}}})
	d := pod.decision with input as testing.input_with(_bad, cfg) with data.pod.config as cfg with time.now_ns as _now
	d == {
		{"rule": "image-tag", "enforcement": "deny", "violations": {_image_violation}},
		{"rule": "liveness-probe", "enforcement": "warn", "enforce_after": _future, "violations": {_liveness_violation}},
	}
}

# The clock decides: the same configuration warns before the time and denies after it.
test_enforce_after_follows_the_clock if {
	cfg := _config({"rules": {"liveness-probe": {"enforceAfter": "2026-01-01T00:00:00Z"}}})
	inp := testing.input_with(_bad, cfg)
	before := pod.decision with input as inp with data.pod.config as cfg with time.now_ns as _now - 1
	after := pod.decision with input as inp with data.pod.config as cfg with time.now_ns as _now
	_enforcements(before)["liveness-probe"] == {"enforcement": "warn", "enforce_after": "2026-01-01T00:00:00Z"}
	_enforcements(after)["liveness-probe"] == {"enforcement": "deny"}
}

_custom_violation := {
	"msg": "hostNetwork is true",
	"field": "spec.hostNetwork",
	"container": "",
	"fix": "remove spec.hostNetwork",
}

test_custom_rule_is_discovered_and_denies if {
	d := pod.decision with input as testing.input_of(_good)
		with data.pod.rules.no_host_network.violation as {_custom_violation}
	d == {{"rule": "no-host-network", "enforcement": "deny", "violations": {_custom_violation}}}
}

test_custom_rule_follows_config_and_overrides[note] if {
	some note, tc in {
		"configured warn": {"patch": {"rules": {"no-host-network": {"enforcement": "warn"}}}, "want": "warn"},
		"override audit": {
			"patch": {"namespaces": {"overrides": [
				{"names": ["default"], "enforcement": "audit", "rules": ["no-host-network"]},
			]}},
			"want": "audit",
		},
	}
	cfg := _config(tc.patch)
	d := pod.decision with input as testing.input_with(_good, cfg)
		with data.pod.rules.no_host_network.violation as {_custom_violation}
		with data.pod.config as cfg
	_enforcements(d) == {"no-host-network": {"enforcement": tc.want}}
}

# podguard lists the packages of the rules that can be on, with the configured enforcement
# and whether it is static; a static one is taken as listed, the others are worked out.
test_rule_packages[note] if {
	some note, tc in {
		"static enforcement is taken as listed": {
			"packages": {
				"image_tag": {"id": "image-tag", "enforcement": "warn", "static": true},
				"liveness_probe": {"id": "liveness-probe", "enforcement": "deny", "static": true},
			},
			"config": {},
			"want": {"image-tag": {"enforcement": "warn"}, "liveness-probe": {"enforcement": "deny"}},
		},
		"a rule that is not listed is not evaluated": {
			"packages": {"image_tag": {"id": "image-tag", "enforcement": "deny", "static": true}},
			"config": {},
			"want": {"image-tag": {"enforcement": "deny"}},
		},
		"enforceAfter is worked out": {
			"packages": {
				"image_tag": {"id": "image-tag", "enforcement": "deny", "static": false},
				"liveness_probe": {"id": "liveness-probe", "enforcement": "deny", "static": true},
			},
			"config": {"rules": {"image-tag": {"enforceAfter": _future}}},
			"want": {
				"image-tag": {"enforcement": "warn", "enforce_after": _future},
				"liveness-probe": {"enforcement": "deny"},
			},
		},
		"an override is worked out, off included": {
			"packages": {
				"image_tag": {"id": "image-tag", "enforcement": "deny", "static": false},
				"liveness_probe": {"id": "liveness-probe", "enforcement": "deny", "static": false},
			},
			"config": {"namespaces": {"overrides": [
				{"names": ["default"], "enforcement": "off", "rules": ["image-tag"]},
				{"names": ["default"], "enforcement": "audit", "rules": ["liveness-probe"]},
			]}},
			"want": {"liveness-probe": {"enforcement": "audit"}},
		},
		"a custom package is found by its listing": {
			"packages": {"no_host_network": {"id": "no-host-network", "enforcement": "audit", "static": true}},
			"config": {},
			"want": {"no-host-network": {"enforcement": "audit"}},
		},
	}
	cfg := _config(tc.config)
	d := pod.decision with input as testing.input_with(_bad, cfg)
		with data.pod.config as cfg
		with data.pod.rule_packages as tc.packages
		with data.pod.rules.no_host_network.violation as {_custom_violation}
		with time.now_ns as _now
	_enforcements(d) == tc.want
}

test_workload_decision if {
	obj := object.union(_bad, {
		"kind": "Deployment",
		"labels_path": "spec.template.metadata.labels",
		"spec_path": "spec.template.spec",
	})
	_list(_decision(obj, data.pod.config), "deny") == [
		["image-tag", "spec.template.spec.containers[0].image"],
		["liveness-probe", "spec.template.spec.containers[0].livenessProbe"],
	]
}

# With an empty configuration every rule checks with its built-in settings and, being
# unknown to the configuration, denies (startup-probe included).
test_empty_config if {
	d := _decision(_bad, {})
	_list(d, "deny") == [
		["image-tag", _image_field],
		["liveness-probe", _liveness_field],
		["startup-probe", "spec.containers[0].startupProbe"],
	]
}
