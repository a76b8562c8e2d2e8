# A custom rule for the webhook tests. It reads the label named by its own configuration
# parameter (rules.explode.label) and converts its value with to_number: a number gives a
# violation, anything else is a runtime error (podguard evaluates with strict builtin
# errors), which is how the tests provoke an evaluation error.
package pod.rules.explode

import data.pod.lib

_label := object.get(lib.rule_config("explode"), "label", "podguard.test/explode")

violation contains v if {
	n := to_number(input.labels[_label])
	v := {
		"msg": sprintf("label %q is the number %v", [_label, n]),
		"field": sprintf("%s[%q]", [lib.labels_path, _label]),
		"container": "",
		"fix": sprintf("remove label %q", [_label]),
	}
}
