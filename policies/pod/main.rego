# METADATA
# scope: package
# title: podguard
# description: |
#   Gathers the violations of every rule package under data.pod.rules (built-in and
#   custom alike) and sorts them by effective enforcement into the admission decision.
package pod

import data.pod.lib

# METADATA
# title: Admission decision
# description: |
#   {"deny": [...], "warn": [...], "audit": [...]}: each element is a rule's violation
#   ({"msg", "field", "container", "fix"}) plus "rule" (the rule id) and "enforcement", and
#   "enforce_after" when a deny is held back as a warning until that time. Each array is
#   sorted by rule, field and message. Violations of rules that are off are dropped.
# entrypoint: true
decision := {
	"deny": _by_enforcement("deny"),
	"warn": _by_enforcement("warn"),
	"audit": _by_enforcement("audit"),
}

_config := lib.config

_by_enforcement(enforcement) := [finding |
	some [e, _, _, _, finding] in _sorted_findings
	e == enforcement
]

# Every finding, sorted once by enforcement, then rule, field and message (and then the
# rest of it).
_sorted_findings := sort(_findings)

# Every package under pod.rules that defines violation is a rule, so a custom rule dropped
# into the policy directory is picked up without being registered anywhere. The engine
# lists the packages in data.pod.rule_packages when it compiles the policy set, so that a
# rule that is off is not evaluated at all.
#
# Each finding is [enforcement, rule, field, msg, finding], ready to be sorted.
_findings contains [finding.enforcement, id, finding.field, finding.msg, finding] if {
	some pkg in data.pod.rule_packages
	id := replace(pkg, "_", "-")
	_enforcement(id) != "off"
	some v in data.pod.rules[pkg].violation
	finding := object.union_n([_violation_fields, _as_object(v), _identity(id)])
}

# Without that list (opa test), every package's violations are evaluated to find the rules.
_findings contains [finding.enforcement, id, finding.field, finding.msg, finding] if {
	not data.pod.rule_packages
	some pkg
	some v in data.pod.rules[pkg].violation
	id := replace(pkg, "_", "-")
	_effective(id).enforcement != "off"
	finding := object.union_n([_violation_fields, _as_object(v), _identity(id)])
}

# What the decision adds to each violation of a rule: its id and effective enforcement.
_identity(id) := object.union({"rule": id}, _effective(id))

# Custom rules may emit bare strings or leave fields out; Go and the sort need all four.
_violation_fields := {"msg": "", "field": "", "container": "", "fix": ""}

_as_object(v) := v if is_object(v)

else := {"msg": v}

# A deny whose enforceAfter lies in the future is only a warning until then.
_effective(id) := {"enforcement": "warn", "enforce_after": after} if {
	_enforcement(id) == "deny"
	after := _config.rules[id].enforceAfter
	is_string(after)
	time.now_ns() < time.parse_rfc3339_ns(after)
} else := {"enforcement": _enforcement(id)}

# A rule the configuration does not know (a custom rule) denies.
_enforcement(id) := _overrides[i].enforcement if {
	i := _first_override(id)
} else := _configured(id)

_configured(id) := object.get(_config, ["rules", id, "enforcement"], "deny")

_overrides := object.get(_config, ["namespaces", "overrides"], [])

_first_override(id) := min({i |
	some i, override in _overrides
	_override_applies(override, id)
})

_override_applies(override, id) if {
	override.enforcement
	_override_names_namespace(override)
	_override_selects_namespace(override)
	_override_covers_rule(override, id)
}

# An override picks namespaces by name (globs), by label (namespaceSelector), or both, in
# which case both must match. The labels are the Namespace's, which only an admin sets.
_override_names_namespace(override) if not "names" in object.keys(override)

_override_names_namespace(override) if {
	some pattern in override.names
	glob.match(pattern, null, input.namespace)
}

_override_selects_namespace(override) if not "namespaceSelector" in object.keys(override)

_override_selects_namespace(override) if {
	selector := override.namespaceSelector
	labels := object.get(input, "namespace_labels", {})
	every key, value in object.get(selector, "matchLabels", {}) {
		labels[key] == value
	}
	every expr in object.get(selector, "matchExpressions", []) {
		_expression_matches(expr, labels)
	}
}

_expression_matches(expr, labels) if {
	expr.operator == "In"
	_label_in(labels, expr.key, expr.values)
}

# As in Kubernetes, NotIn also matches a namespace without the label.
_expression_matches(expr, labels) if {
	expr.operator == "NotIn"
	not _label_in(labels, expr.key, expr.values)
}

_label_in(labels, key, values) if labels[key] in values

_expression_matches(expr, labels) if {
	expr.operator == "Exists"
	_ = labels[expr.key]
}

_expression_matches(expr, labels) if {
	expr.operator == "DoesNotExist"
	not _has_label(labels, expr.key)
}

_has_label(labels, key) if _ = labels[key]

# An override without a rules list changes how strictly the enabled rules are enforced; it
# does not switch on a rule that is off. Naming the rule in its rules list does.
_override_covers_rule(override, id) if {
	object.get(override, "rules", null) == null
	_configured(id) != "off"
}

_override_covers_rule(override, id) if id in override.rules
