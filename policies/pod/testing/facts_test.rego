# METADATA
# scope: package
# title: Inputs for policy tests
# description: |
#   Builds the input podguard gives the rules from an object written the way a test reads
#   best: a PodSpec as in a manifest. podguard itself reads the facts of an object in Go
#   (policies/engine); input_of gives the same facts (a Go test holds the two to each other),
#   so that a test can say {"containers": [{"name": "app", "image": "app:1.0"}]} instead of
#   spelling out each container's facts. Quantities are read through data.pod.quantities (the
#   value of every quantity string a test uses, in pod/quantities/data.yaml): a string that
#   is not there reads as one that is not a quantity.
package pod.testing

import data.pod.lib

# METADATA
# description: |
#   The input of an object given as {"kind", "namespace", "name", "labels", "labels_path",
#   "spec_path", "spec"} (and optionally "namespace_labels", "apply_defaults" and "object"):
#   spec is the PodSpec and labels the Pod's labels, as written; the paths default to a
#   Pod's. input.spec is that PodSpec and input.object the whole object, as podguard gives
#   them: "object" when the test gives one (for annotations and the like), else one built
#   with the kind, name, namespace, labels and spec at their paths.
input_of(obj) := {
	"spec": spec,
	"object": _whole(obj, spec_path, spec),
	"kind": object.get(obj, "kind", "Pod"),
	"namespace": object.get(obj, "namespace", "default"),
	"name": object.get(obj, "name", ""),
	"labels": {k: v | some k, v in _object(object.get(obj, "labels", {})); is_string(v)},
	"labels_path": object.get(obj, "labels_path", "metadata.labels"),
	"spec_path": spec_path,
	"namespace_labels": object.get(obj, "namespace_labels", {}),
	"apply_defaults": object.get(obj, "apply_defaults", false),
	"containers": [_container(spec_path, spec, type, i, c) |
		some type in lib.container_types
		list := object.get(spec, type, [])
		is_array(list)
		some i, c in list
		is_object(c)
	],
	"pod_resources": _resources(object.get(spec, "resources", {})),
} if {
	spec_path := object.get(obj, "spec_path", "spec")
	spec := _object(object.get(obj, "spec", {}))
}

# METADATA
# description: The input of a Pod with this PodSpec.
pod(spec) := input_of({"spec": spec})

# METADATA
# description: |
#   input_of(obj) under the configuration cfg: the facts name the resources the
#   configuration names, so a test that changes the configuration builds its input with it.
input_with(obj, cfg) := x if {
	x := input_of(obj) with data.pod.config as cfg
}

# _whole is the object a test gives, or the object its kind, name, namespace, labels and
# PodSpec make, each at its path.
_whole(obj, _, _) := obj.object if _has_object(obj)

_whole(obj, spec_path, spec) := object.union_n([
	{"kind": object.get(obj, "kind", "Pod"), "metadata": {
		"name": object.get(obj, "name", ""),
		"namespace": object.get(obj, "namespace", "default"),
	}},
	_at(split(object.get(obj, "labels_path", "metadata.labels"), "."), _object(object.get(obj, "labels", {}))),
	_at(split(spec_path, "."), spec),
]) if {
	not _has_object(obj)
}

_has_object(obj) if is_object(obj.object)

# _at is value at a path of up to six keys (a CronJob's spec.jobTemplate.spec.template.metadata.labels).
_at(p, v) := {p[0]: v} if count(p) == 1

_at(p, v) := {p[0]: {p[1]: v}} if count(p) == 2

_at(p, v) := {p[0]: {p[1]: {p[2]: v}}} if count(p) == 3

_at(p, v) := {p[0]: {p[1]: {p[2]: {p[3]: v}}}} if count(p) == 4

_at(p, v) := {p[0]: {p[1]: {p[2]: {p[3]: {p[4]: v}}}}} if count(p) == 5

_at(p, v) := {p[0]: {p[1]: {p[2]: {p[3]: {p[4]: {p[5]: v}}}}}} if count(p) == 6

_object(x) := x if is_object(x)

else := {}

_container(spec_path, spec, type, i, c) := object.union(
	{
		"type": type,
		"index": i,
		"name": _string(object.get(c, "name", "")),
		"path": path,
		"long_running": _long_running(type, c),
		"resources": _resources(object.get(c, "resources", {})),
		"probes": {key: _handlers(probe) |
			some key in ["livenessProbe", "readinessProbe", "startupProbe"]
			probe := object.get(c, key, null)
			probe != null
		},
		"unset": _unset(path, c, _object(object.get(spec, "resources", {}))),
	},
	object.union(_image(c), _unreadable(c)),
) if {
	path := sprintf("%s.%s[%d]", [spec_path, type, i])
}

_string(x) := x if is_string(x)

else := ""

_long_running("containers", _) := true

_long_running("initContainers", c) if {
	c.restartPolicy == "Always"
} else := false

_long_running("ephemeralContainers", _) := false

_image(c) := {"image": {"reference": image, "name": name, "tag": tag, "digest": digest}} if {
	image := c.image
	is_string(image)
	image != ""
	at := indexof(image, "@")
	reference := _before(image, at)
	digest := _after(image, at)
	segments := split(reference, "/")
	last := segments[count(segments) - 1]
	colon := indexof(last, ":")
	tag := _tag(last, colon)
	name := substring(reference, 0, count(reference) - _dropped(tag))
} else := {}

_before(s, -1) := s

_before(s, i) := substring(s, 0, i) if i >= 0

_after(_, -1) := ""

_after(s, i) := substring(s, i + 1, -1) if i >= 0

_tag(_, -1) := ""

_tag(last, colon) := substring(last, colon + 1, -1) if colon >= 0

# A tag and its colon leave the name; a trailing colon without a tag stays.
_dropped("") := 0

_dropped(tag) := count(tag) + 1 if tag != ""

_handlers(probe) := [h |
	some h in lib.probe_handlers
	probe[h] != null
] if {
	is_object(probe)
} else := []

_resources(resources) := {section: values |
	some section in ["requests", "limits"]
	values := {name: quantity(q) |
		some name, q in _object(object.get(_object(resources), section, {}))
		not q in {null, ""}
	}
	count(values) > 0
}

# METADATA
# description: A quantity as podguard reads it, from data.pod.quantities.
quantity(q) := {"value": q, "number": q} if {
	is_number(q)
} else := {"value": q, "number": data.pod.quantities[q]} if {
	is_string(q)
} else := {"value": q, "error": "is not a quantity such as 500m, 2 or 256Mi"}

_unreadable(c) := {"unreadable": unreadable} if {
	unreadable := {section: names |
		some section, values in _resources(object.get(c, "resources", {}))
		names := [name | some name, q in values; q.error]
		count(names) > 0
	}
	count(unreadable) > 0
} else := {}

# What the container does not set, of the resources the configuration names (and no
# pod-level value stands for) and of the probes, with the field paths.
_unset(path, c, pod) := {section: fields |
	some section, fields in object.union(
		{section: {name: sprintf("%s.resources.%s.%s", [path, section, name]) |
			some name in plan_resources
			not _resources(object.get(c, "resources", {}))[section][name]
			not _shared_at_pod_level(section, name, pod)
		} |
			some section in ["requests", "limits"]
		},
		{"probes": {key: sprintf("%s.%s", [path, key]) |
			some key in ["livenessProbe", "readinessProbe", "startupProbe"]
			object.get(c, key, null) == null
		}},
	)
	count(fields) > 0
}

# A pod-level value stands for the containers' own where the resource rule's podLevel is
# counts; a pod-level limit stands for the requests too.
_shared_at_pod_level(section, name, pod) if {
	id := {"requests": "resources-requests", "limits": "resources-limits"}[section]
	object.get(lib.config, ["rules", id, "podLevel"], "counts") == "counts"
	some pod_section in {"requests": ["requests", "limits"], "limits": ["limits"]}[section]
	_resources(pod)[pod_section][name]
}

# METADATA
# description: |
#   The resources the configuration names (as podguard's Go side lists them): in the
#   resources, min, max and maxLimitRequestRatio of the resource rules, and in the defaults.
plan_resources contains name if {
	some id in ["resources-requests", "resources-limits"]
	some name in object.get(lib.config, ["rules", id, "resources"], ["cpu", "memory"])
}

plan_resources contains name if {
	some id in ["resources-requests", "resources-limits"]
	some key in ["min", "max", "maxLimitRequestRatio"]
	some name, _ in object.get(lib.config, ["rules", id, key], {})
}

plan_resources contains name if {
	some _, values in object.get(lib.config, ["defaults", "resources"], {})
	some name, _ in values
}
