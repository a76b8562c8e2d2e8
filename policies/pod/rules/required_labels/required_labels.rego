# METADATA
# scope: package
# title: Required labels
# description: |
#   The Pod (or the pod template of a workload) carries every configured label key, and
#   where a label has allowedRegex its value matches it. The regex is applied as written
#   (regex.match finds it anywhere in the value), so anchor it with ^ and $ to match the whole value.
# related_resources:
#   - ref: https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/
#     description: Recommended Labels
# custom:
#   id: required-labels
package pod.rules.required_labels

import data.pod.lib

_labels := object.get(lib.rule_config("required-labels"), "labels", [{"key": "app.kubernetes.io/name"}])

# An empty value counts as set: Kubernetes allows empty label values, and allowedRegex is
# the way to require a non-empty one. Label keys contain dots and slashes, so the field
# path quotes them as a map index.
violation contains v if {
	some label in _labels
	not lib.labels[label.key]
	v := {
		"msg": sprintf("required label %q is not set", [label.key]),
		"field": sprintf("%s[%q]", [lib.labels_path, label.key]),
		"container": "",
		"fix": _add_fix(label),
	}
}

violation contains v if {
	some label in _labels
	pattern := label.allowedRegex
	value := lib.labels[label.key]
	not regex.match(pattern, value)
	v := {
		"msg": sprintf("label %q has the value %q, which does not match %s", [label.key, value, pattern]),
		"field": sprintf("%s[%q]", [lib.labels_path, label.key]),
		"container": "",
		"fix": sprintf("change label %q in %s to a value matching %s", [label.key, lib.labels_path, pattern]),
	}
}

_add_fix(label) := sprintf("add label %q to %s with a value matching %s", [
	label.key,
	lib.labels_path,
	label.allowedRegex,
]) if {
	label.allowedRegex
} else := sprintf("add label %q to %s", [label.key, lib.labels_path])
