# METADATA
# scope: package
# title: podguard shared helpers
# description: |
#   The one container walker every rule uses, the reader of resource
#   quantities, the image reference parser and access to the rule configuration.
#   Rules import this package (import data.pod.lib) and never walk input.spec themselves.
package pod.lib

# All container lists of a PodSpec, in the order the API documents them.
container_types := ["containers", "initContainers", "ephemeralContainers"]

# Where the PodSpec sits in the submitted object: "spec" for a Pod,
# "spec.template.spec" for a Deployment and so on. Field paths start here.
spec_path := object.get(input, "spec_path", "spec")

# Where the Pod's labels sit in the submitted object.
labels_path := object.get(input, "labels_path", "metadata.labels")

# METADATA
# description: |
#   Every container of input.spec, as an object with
#   type (containers, initContainers or ephemeralContainers), index in its list,
#   name, path (field path of the container, e.g. spec.containers[0]) and the container itself.
containers contains c if {
	some type in container_types
	list := object.get(input, ["spec", type], [])
	is_array(list)
	some i, container in list
	is_object(container)
	c := {
		"type": type,
		"index": i,
		"name": object.get(container, "name", ""),
		"path": sprintf("%s.%s[%d]", [spec_path, type, i]),
		"container": container,
	}
}

# METADATA
# description: |
#   Every container of input.spec as [type, index, container], in the order of containers:
#   the walk the built-in rules start from (each keeps the types it checks). It is
#   containers without the name and path of each container, which cost more to build than
#   most checks; a rule builds them with container_path and container_name only for a
#   container that breaks it.
container_entries := [[type, i, container] |
	some type in container_types
	list := object.get(input, ["spec", type], [])
	is_array(list)
	some i, container in list
	is_object(container)
]

# METADATA
# description: The field path of the index-th container of a type (as c.path of containers).
container_path(type, index) := sprintf("%s.%s[%d]", [spec_path, type, index])

# METADATA
# description: The name of a container (as c.name of containers), "" when it has none.
container_name(container) := object.get(container, "name", "")

# METADATA
# description: Containers whose type is listed in types (container type names as in the PodSpec).
containers_of(types) := {c | some c in containers; c.type in types}

# METADATA
# description: |
#   Containers that may carry resource requirements: those whose type is listed,
#   except ephemeral containers, which the API forbids to have resources.
with_resources(types) := {c |
	some c in containers_of(types)
	c.type != "ephemeralContainers"
}

# METADATA
# description: |
#   Containers the kubelet keeps running and therefore probes. "containers" selects the
#   regular containers; "initContainers" selects only native sidecars (restartPolicy Always),
#   because plain init containers run to completion and cannot have probes.
#   Ephemeral containers are never returned: the API does not allow probes on them.
long_running(types) := {c |
	some c in containers_of(types)
	_long_running(c)
}

_long_running(c) if c.type == "containers"

_long_running(c) if {
	c.type == "initContainers"
	c.container.restartPolicy == "Always"
}

# METADATA
# description: |
#   The configuration, data.pod.config. Without one every setting takes its default, so a
#   missing data file makes the rules check with their defaults instead of silently passing.
default config := {}

config := data.pod.config

# METADATA
# description: |
#   The configuration of one rule (data.pod.config.rules[id]), or {} when it has none.
#   Callers read each setting with object.get and the default from config/data.yaml, so a
#   configuration that omits a setting behaves like the default one.
rule_config(id) := object.get(config, ["rules", id], {})

# METADATA
# description: |
#   The value of resources.<section>.<resource> of a container, undefined when it is
#   missing, null or the empty string (all three mean "not set").
resource_value(container, section, resource) := value if {
	value := container.resources[section][resource]
	value != null
	value != ""
}

# METADATA
# description: |
#   The numeric value of a Kubernetes quantity, given as a string ("100m", "1Gi", "6G",
#   "1e3", "250u") or as a bare number (0.05, 1). Undefined when it cannot be parsed.
quantity(q) := q if is_number(q)

quantity(q) := units.parse(q) if {
	is_string(q)
	not _sub_milli_suffix(q)
	regex.match(_units_syntax, q)
}

# units.parse knows no suffix below milli; Kubernetes also accepts n and u. Rewriting them
# as exponents keeps the value exact, where multiplying by 1e-9 would not.
quantity(q) := units.parse(concat("", [number, _sub_milli_exponent[suffix]])) if {
	is_string(q)
	suffix := _sub_milli_suffix(q)
	number := trim_suffix(q, suffix)
	regex.match(_number_syntax, number)
}

# What units.parse reads: a decimal number, an optional exponent of at most six digits
# and an optional unit. units.parse fails on anything else, and a failing builtin fails
# the whole evaluation (podguard evaluates with strict builtin errors), so a value the
# API server would refuse anyway must be checked before it gets there.
_number_syntax := `^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$`

_units_syntax := `^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,6})?(m|[kKMgGtTpPeE]|[kKmMgGtTpPeE][iI])?$`

_sub_milli_exponent := {"n": "e-9", "u": "e-6"}

_sub_milli_suffix(q) := suffix if {
	some suffix, _ in _sub_milli_exponent
	endswith(q, suffix)
}

# METADATA
# description: A quantity as messages show it, strings quoted and numbers bare.
show_quantity(q) := json.marshal(q)

# METADATA
# description: |
#   Splits an image reference into name, tag and digest ("" when absent).
#   The tag is whatever follows a colon in the last path segment, so the port of a
#   registry ("registry:5000/app") is not taken for a tag.
parse_image(image) := {"name": name, "tag": tag, "digest": digest} if {
	# Straight-line builtins only: this runs for every image of every Pod.
	# Everything after the first "@" is the digest.
	at_parts := split(image, "@")
	reference := at_parts[0]
	digest := concat("@", array.slice(at_parts, 1, count(at_parts)))
	segments := split(reference, "/")
	colon_parts := split(segments[count(segments) - 1], ":")
	tag := concat(":", array.slice(colon_parts, 1, count(colon_parts)))

	# The name drops ":<tag>", and keeps a trailing ":" that has no tag after it.
	name := substring(reference, 0, (count(reference) - count(tag)) - to_number(tag != ""))
}

# METADATA
# description: The image of a container, or "" when it has none.
image(container) := img if {
	img := container.image
	is_string(img)
} else := ""

# METADATA
# description: |
#   Joins words for a message: "a", "a or b", "a, b or c".
or_list(words) := "" if count(words) == 0

or_list(words) := words[0] if count(words) == 1

or_list(words) := sprintf("%s or %s", [concat(", ", head), last]) if {
	count(words) > 1
	head := array.slice(words, 0, count(words) - 1)
	last := words[count(words) - 1]
}
