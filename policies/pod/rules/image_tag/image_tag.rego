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

# The checked containers whose image has no digest, with the image's tag ("" when it has
# none): [type, index, container, image, tag]. An image with a digest passes both checks.
_undigested contains [type, i, container, image, tag] if {
	types := object.get(_config, "containerTypes", ["containers", "initContainers", "ephemeralContainers"])
	some [type, i, container] in lib.container_entries
	type in types

	# As lib.image(container) != "".
	image := container.image
	is_string(image)
	image != ""
	not _exempt(image)

	# As lib.parse_image: the digest is everything after the first "@", the tag what
	# follows a colon in the last path segment of the rest.
	at_parts := split(image, "@")
	concat("@", array.slice(at_parts, 1, count(at_parts))) == ""
	segments := split(at_parts[0], "/")
	colon_parts := split(segments[count(segments) - 1], ":")
	tag := concat(":", array.slice(colon_parts, 1, count(colon_parts)))
}

# glob.match with null delimiters lets "*" cross "/" and ":", so "registry.k8s.io/*"
# covers every image of that registry and "app:*" every tag of app.
_exempt(image) if {
	some pattern in _exempt_images
	glob.match(pattern, null, image)
}

violation contains v if {
	some [type, i, container, image, ""] in _undigested
	name := lib.parse_image(image).name
	v := {
		"msg": sprintf("image %q has neither a tag nor a digest, so the runtime pulls \"latest\"", [image]),
		"field": sprintf("%s.image", [lib.container_path(type, i)]),
		"container": lib.container_name(container),
		"fix": sprintf("pin the image to a version tag or a digest, e.g. \"%s:<version>\" or \"%s@sha256:<digest>\"", [
			name,
			name,
		]),
	}
}

violation contains v if {
	some [type, i, container, image, tag] in _undigested
	tag in _disallowed_tags
	v := {
		"msg": sprintf("image %q uses the disallowed tag %q", [image, tag]),
		"field": sprintf("%s.image", [lib.container_path(type, i)]),
		"container": lib.container_name(container),
		"fix": sprintf("use a version tag or a digest instead of %q, e.g. \"%s:<version>\"", [tag, lib.parse_image(image).name]),
	}
}
