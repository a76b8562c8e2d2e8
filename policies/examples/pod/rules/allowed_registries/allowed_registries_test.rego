package pod.rules.allowed_registries_test

import data.pod.rules.allowed_registries
import data.pod.testing

_config := {"rules": {"allowed-registries": {"registries": ["registry.example.com/", "ghcr.io/acme/"]}}}

# The input podguard gives the rule for a Pod with these images (pod.testing builds the
# facts of a PodSpec written as in a manifest).
_pod(images) := testing.pod({"containers": [{"name": sprintf("c%d", [i]), "image": img} |
	some i, img in images
]})

test_allowed_images_pass if {
	count(allowed_registries.violation) == 0 with input as _pod(["registry.example.com/web:1.0", "ghcr.io/acme/api:2"])
		with data.pod.config as _config
}

test_other_registry_is_named if {
	allowed_registries.violation == {{
		"msg": `image "docker.io/library/nginx:1.27" is not from an allowed registry`,
		"field": "spec.containers[1].image",
		"container": "c1",
		"fix": "use an image from registry.example.com/ or ghcr.io/acme/",
	}} with input as _pod(["registry.example.com/web:1.0", "docker.io/library/nginx:1.27"])
		with data.pod.config as _config
}

test_without_a_list_nothing_is_checked if {
	count(allowed_registries.violation) == 0 with input as _pod(["docker.io/library/nginx:1.27"])
		with data.pod.config as {"rules": {}}
}
