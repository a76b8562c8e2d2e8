# METADATA
# scope: package
# title: Image tag
# description: |
#   Every container image names a tag or a digest, and its tag is not one of the
#   disallowed tags (default latest), so every node runs the same, known image.
#   An image pinned by digest passes whatever its tag, because the runtime pulls the digest.
#   Images matching an exemptImages glob ("*" matches any characters, "/" and ":" included) pass.
#   A container without an image is left alone: a pod template may leave it to be filled in
#   later, and the API server rejects a Pod without one.
# related_resources:
#   - ref: https://kubernetes.io/docs/concepts/containers/images/#image-names
#     description: Images - image names, tags and digests
#   - ref: https://kubernetes.io/docs/concepts/configuration/overview/#container-images
#     description: Configuration Best Practices - container images
# custom:
#   id: image-tag
package pod.rules.image_tag

import data.pod.lib

_config := lib.rule_config("image-tag")

_disallowed_tags := {tag | some tag in object.get(_config, "disallowedTags", ["latest"])}

_exempt_images := object.get(_config, "exemptImages", [])

_types := object.get(_config, "containerTypes", ["containers", "initContainers", "ephemeralContainers"])

# The images of the Pod that an exemptImages glob matches. glob.match with null delimiters
# lets "*" cross "/" and ":", so "registry.k8s.io/*" covers every image of that registry and
# "app:*" every tag of app.
_exempt contains c.image.reference if {
	some pattern in _exempt_images
	some c in lib.containers
	glob.match(pattern, null, c.image.reference)
}

# An image pinned by a digest passes both checks: the runtime pulls the digest.
violation contains v if {
	some c in lib.containers
	c.image.tag == ""
	c.image.digest == ""
	c.type in _types
	not c.image.reference in _exempt
	v := {
		"msg": sprintf("image %q has neither a tag nor a digest, so the runtime pulls \"latest\"", [c.image.reference]),
		"field": sprintf("%s.image", [c.path]),
		"container": c.name,
		"fix": sprintf("pin the image to a version tag or a digest, e.g. \"%s:<version>\" or \"%s@sha256:<digest>\"", [
			c.image.name,
			c.image.name,
		]),
	}
}

violation contains v if {
	some c in lib.containers
	c.image.tag in _disallowed_tags
	c.image.digest == ""
	c.type in _types
	not c.image.reference in _exempt
	v := {
		"msg": sprintf("image %q uses the disallowed tag %q", [c.image.reference, c.image.tag]),
		"field": sprintf("%s.image", [c.path]),
		"container": c.name,
		"fix": sprintf("use a version tag or a digest instead of %q, e.g. \"%s:<version>\"", [c.image.tag, c.image.name]),
	}
}
