package pod.rules.required_labels_test

import data.pod.rules.required_labels
import data.pod.testing

_pod(labels) := {
	"kind": "Pod", "namespace": "default", "name": "web",
	"labels": labels, "spec": {"containers": [{"name": "app"}]},
}

_config(labels) := object.union(data.pod.config, {"rules": {"required-labels": {"labels": labels}}})

_team := [
	{"key": "app.kubernetes.io/name"},
	{"key": "team", "allowedRegex": `^[a-z-]+$`},
]

_got(inp, cfg) := {[v.container, v.field, v.msg] |
	some v in required_labels.violation with input as testing.input_with(inp, cfg) with data.pod.config as cfg
}

test_default_label[note] if {
	some note, tc in {
		"present": {"input": _pod({"app.kubernetes.io/name": "web"}), "want": set()},
		"empty value counts as present": {"input": _pod({"app.kubernetes.io/name": ""}), "want": set()},
		"missing": {
			"input": _pod({"app": "web"}),
			"want": {["", `metadata.labels["app.kubernetes.io/name"]`, `required label "app.kubernetes.io/name" is not set`]},
		},
		"no labels": {
			"input": _pod({}),
			"want": {["", `metadata.labels["app.kubernetes.io/name"]`, `required label "app.kubernetes.io/name" is not set`]},
		},
		"null labels": {
			"input": _pod(null),
			"want": {["", `metadata.labels["app.kubernetes.io/name"]`, `required label "app.kubernetes.io/name" is not set`]},
		},
		"a value that is not a string is not a label": {
			"input": _pod({"app.kubernetes.io/name": 1}),
			"want": {["", `metadata.labels["app.kubernetes.io/name"]`, `required label "app.kubernetes.io/name" is not set`]},
		},
		"labels key absent": {
			"input": object.remove(_pod({}), ["labels"]),
			"want": {["", `metadata.labels["app.kubernetes.io/name"]`, `required label "app.kubernetes.io/name" is not set`]},
		},
		"workload template": {
			"input": object.union(_pod({"app": "web"}), {
				"kind": "Deployment",
				"labels_path": "spec.template.metadata.labels",
				"spec_path": "spec.template.spec",
			}),
			"want": {[
				"", `spec.template.metadata.labels["app.kubernetes.io/name"]`,
				`required label "app.kubernetes.io/name" is not set`,
			]},
		},
	}
	_got(tc.input, data.pod.config) == tc.want
}

test_regex[note] if {
	some note, tc in {
		"both fine": {"labels": {"app.kubernetes.io/name": "web", "team": "pay-ments"}, "want": set()},
		"value does not match": {
			"labels": {"app.kubernetes.io/name": "web", "team": "Payments"},
			"want": {["", `metadata.labels["team"]`, `label "team" has the value "Payments", which does not match ^[a-z-]+$`]},
		},
		"empty value does not match": {
			"labels": {"app.kubernetes.io/name": "web", "team": ""},
			"want": {["", `metadata.labels["team"]`, `label "team" has the value "", which does not match ^[a-z-]+$`]},
		},
		"missing is reported once": {
			"labels": {},
			"want": {
				["", `metadata.labels["app.kubernetes.io/name"]`, `required label "app.kubernetes.io/name" is not set`],
				["", `metadata.labels["team"]`, `required label "team" is not set`],
			},
		},
	}
	_got(_pod(tc.labels), _config(_team)) == tc.want
}

test_unanchored_regex_matches_anywhere if {
	cfg := _config([{"key": "tier", "allowedRegex": "front"}])
	_got(_pod({"tier": "frontend"}), cfg) == set()
	_got(_pod({"tier": "backend"}), cfg) == {[
		"", `metadata.labels["tier"]`,
		`label "tier" has the value "backend", which does not match front`,
	]}
}

test_no_required_labels if {
	_got(_pod(null), _config([])) == set()
}

test_full_violations if {
	got := required_labels.violation with input as testing.input_of(_pod({"team": "A"})) with data.pod.config as _config(_team)
	got == {
		{
			"msg": `required label "app.kubernetes.io/name" is not set`,
			"field": `metadata.labels["app.kubernetes.io/name"]`,
			"container": "",
			"fix": `add label "app.kubernetes.io/name" to metadata.labels`,
		},
		{
			"msg": `label "team" has the value "A", which does not match ^[a-z-]+$`,
			"field": `metadata.labels["team"]`,
			"container": "",
			"fix": `change label "team" in metadata.labels to a value matching ^[a-z-]+$`,
		},
	}
}

test_missing_with_regex_fix if {
	inp := _pod({"app.kubernetes.io/name": "x"})
	got := required_labels.violation with input as testing.input_of(inp) with data.pod.config as _config(_team)
	got == {{
		"msg": `required label "team" is not set`,
		"field": `metadata.labels["team"]`,
		"container": "",
		"fix": `add label "team" to metadata.labels with a value matching ^[a-z-]+$`,
	}}
}
