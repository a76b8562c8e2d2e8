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
#   The violations of every rule that has some, with the rule's effective enforcement: a
#   set of {"rule": id, "enforcement": "deny", "warn" or "audit", "violations": set}, plus
#   "enforce_after" while a rule with enforceAfter has yet to start denying. The violations
#   are what the rule emitted ({"msg", "field", "container", "fix"}, or a bare message);
#   podguard lists them by enforcement, then rule, field and message. Rules that are off
#   are left out.
# entrypoint: true
decision := _groups

_config := lib.config

# Every package under pod.rules that defines violation is a rule, so a custom rule dropped
# into the policy directory is picked up without being registered anywhere. The engine
# lists the packages of the rules that can be on in data.pod.rule_packages when it compiles
# the policy set ({package: {"id", "enforcement", "static"}}: the rule's id, its configured
# enforcement, and whether that is its enforcement everywhere and at all times, i.e. no
# namespace override and no enforceAfter), so that a rule that is off is not evaluated at
# all, and a static enforcement is not worked out for each review.
_groups contains {"rule": rule.id, "enforcement": rule.enforcement, "violations": violations} if {
	some pkg, rule in data.pod.rule_packages
	rule.static == true
	violations := data.pod.rules[pkg].violation
	violations != set()
}

_groups contains group if {
	some pkg, rule in data.pod.rule_packages
	rule.static == false
	violations := data.pod.rules[pkg].violation
	violations != set()
	group := object.union(_effective(rule.id), {"rule": rule.id, "violations": violations})
	group.enforcement != "off"
}

# Without that list (opa test), every package's violations are evaluated to find the rules.
_groups contains group if {
	not data.pod.rule_packages
	some pkg
	violations := data.pod.rules[pkg].violation
	violations != set()
	id := replace(pkg, "_", "-")
	group := object.union(_effective(id), {"rule": id, "violations": violations})
	group.enforcement != "off"
}

# A namespace override that matches decides. Otherwise a rule with enforceAfter denies from
# that time on, and until then has its configured enforcement (warn or audit), or warns if
# that is deny: the time it starts denying goes with each of its warnings.
_effective(id) := {"enforcement": _overrides[i].enforcement} if {
	_overrides != []
	i := _first_override(id)
} else := {"enforcement": "deny"} if {
	time.now_ns() >= _enforce_after_ns(id)
} else := {"enforcement": _until_enforced[_configured(id)], "enforce_after": _config.rules[id].enforceAfter} if {
	_enforce_after_ns(id)
} else := {"enforcement": _configured(id)}

# enforceAfter of a rule that is not off, in nanoseconds.
_enforce_after_ns(id) := time.parse_rfc3339_ns(_config.rules[id].enforceAfter) if {
	_configured(id) != "off"
}

# A rule's enforcement until its enforceAfter.
_until_enforced := {"deny": "warn", "warn": "warn", "audit": "audit"}

# A rule the configuration does not know (a custom rule) denies.
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
	labels := input.namespace_labels
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
