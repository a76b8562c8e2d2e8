# METADATA
# scope: package
# title: podguard shared helpers
# description: |
#   What the rules read about a Pod: the facts podguard reads from the object once, in Go
#   (its containers with their images, resources and probes, its labels), the configuration,
#   and helpers for messages. Rules import this package (import data.pod.lib) and read
#   these facts rather than walking the object themselves.
package pod.lib

# All container lists of a PodSpec, in the order the API documents them.
container_types := ["containers", "initContainers", "ephemeralContainers"]

# Where the PodSpec sits in the submitted object: "spec" for a Pod,
# "spec.template.spec" for a Deployment and so on. Field paths start here.
spec_path := input.spec_path

# Where the Pod's labels sit in the submitted object.
labels_path := input.labels_path

# METADATA
# description: |
#   The Pod's labels (of the pod template, for a workload): the labels with a string value.
labels := input.labels

# METADATA
# description: |
#   Every container of the Pod, in the order of container_types and of each list, as facts:
#   type (containers, initContainers or ephemeralContainers), index in its list, name, path
#   (the container's field path, e.g. spec.template.spec.containers[0]), long_running (the
#   kubelet keeps it running: a regular container or a native sidecar), image
#   ({"reference", "name", "tag", "digest"}, absent when it has none), resources
#   ({"requests": {...}, "limits": {...}}: every value that is set, as a quantity, see
#   resource) and probes ({"livenessProbe": [handlers], ...}: every probe that is set, with
#   the handlers it uses, e.g. ["httpGet"], or [] when it has none).
containers := input.containers

# METADATA
# description: Containers whose type is listed in types (container type names as in the PodSpec).
containers_of(types) := [c | some c in containers; c.type in types]

# METADATA
# description: |
#   Containers that may carry resource requirements: those whose type is listed,
#   except ephemeral containers, which the API forbids to have resources.
with_resources(types) := [c |
	some c in containers_of(types)
	c.type != "ephemeralContainers"
]

# METADATA
# description: |
#   Containers the kubelet keeps running and therefore probes. "containers" selects the
#   regular containers; "initContainers" selects only native sidecars (restartPolicy Always),
#   because plain init containers run to completion and cannot have probes.
#   Ephemeral containers are never returned: the API does not allow probes on them.
long_running(types) := [c |
	some c in containers_of(types)
	c.long_running
]

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
rule_config(id) := c if {
	c := config.rules[id]
} else := {}

# METADATA
# description: |
#   The value of a quantity written in the configuration (a string such as "8Gi", or a
#   number), read by podguard when it loads the configuration: data.pod.quantities holds
#   the value of every quantity string in it. Undefined for a string that is not there.
config_quantity(q) := q if is_number(q)

config_quantity(q) := data.pod.quantities[q] if is_string(q)

# METADATA
# description: |
#   A quantity as messages show it, strings quoted and numbers bare; a value longer than
#   64 characters by its first 32 and its length, quoted:
#   "00000000000000000000000000000000... (65 characters)". For messages only: the value
#   itself is what a mutation copies and an UPDATE compares.
show_quantity(q) := json.marshal(q) if {
	count(_written(q)) <= 64
} else := json.marshal(sprintf("%s... (%d characters)", [substring(text, 0, 32), count(text)])) if {
	text := _written(q)
}

_written(q) := q if is_string(q)

_written(q) := json.marshal(q) if not is_string(q)

# METADATA
# description: |
#   Joins words for a message: "a", "a or b", "a, b or c".
or_list(words) := "" if {
	count(words) == 0
} else := words[0] if {
	count(words) == 1
} else := sprintf("%s or %s", [concat(", ", head), last]) if {
	head := array.slice(words, 0, count(words) - 1)
	last := words[count(words) - 1]
}
