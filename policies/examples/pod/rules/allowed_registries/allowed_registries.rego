# METADATA
# scope: package
# title: Allowed registries
# description: |
#   Every image (containers, init containers and ephemeral containers) comes from one of
#   the registries listed in the rule's `registries` parameter, matched as a prefix of the
#   image reference. Without a list the rule checks nothing.
# related_resources:
#   - ref: https://kubernetes.io/docs/concepts/containers/images/#image-names
#     description: Image names
# custom:
#   id: allowed-registries
package pod.rules.allowed_registries

import data.pod.lib

# The rule's own parameters, from the configuration file:
#   rules:
#     allowed-registries: {enforcement: deny, registries: [registry.example.com/]}
_registries := object.get(lib.rule_config("allowed-registries"), "registries", [])

violation contains v if {
	count(_registries) > 0
	some c in lib.containers
	image := c.image.reference # a container without an image has no image fact
	not _allowed(image)
	v := {
		"msg": sprintf("image %q is not from an allowed registry", [image]),
		"field": sprintf("%s.image", [c.path]),
		"container": c.name,
		"fix": sprintf("use an image from %s", [lib.or_list(_registries)]),
	}
}

_allowed(image) if {
	some prefix in _registries
	startswith(image, prefix)
}
