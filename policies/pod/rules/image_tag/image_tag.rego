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

_checked contains c if {
	types := object.get(_config, "containerTypes", ["containers", "initContainers", "ephemeralContainers"])
	some c in lib.containers_of(types)
	lib.image(c.container) != ""
	not _exempt(lib.image(c.container))
}

# glob.match with null delimiters lets "*" cross "/" and ":", so "registry.k8s.io/*"
# covers every image of that registry and "app:*" every tag of app.
_exempt(image) if {
	some pattern in object.get(_config, "exemptImages", [])
	glob.match(pattern, null, image)
}

violation contains v if {
	some c in _checked
	image := lib.image(c.container)
	ref := lib.parse_image(image)
	ref.tag == ""
	ref.digest == ""
	v := {
		"msg": sprintf("image %q has neither a tag nor a digest, so the runtime pulls \"latest\"", [image]),
		"field": sprintf("%s.image", [c.path]),
		"container": c.name,
		"fix": sprintf("pin the image to a version tag or a digest, e.g. \"%s:<version>\" or \"%s@sha256:<digest>\"", [
			ref.name,
			ref.name,
		]),
	}
}

violation contains v if {
	some c in _checked
	image := lib.image(c.container)
	ref := lib.parse_image(image)
	ref.digest == ""
	ref.tag in _disallowed_tags
	v := {
		"msg": sprintf("image %q uses the disallowed tag %q", [image, ref.tag]),
		"field": sprintf("%s.image", [c.path]),
		"container": c.name,
		"fix": sprintf("use a version tag or a digest instead of %q, e.g. \"%s:<version>\"", [ref.tag, ref.name]),
	}
}
