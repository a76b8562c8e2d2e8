package pod.rules.image_tag_test

import data.pod.rules.image_tag
import data.pod.testing

_pod(spec) := {"kind": "Pod", "namespace": "default", "name": "web", "spec": spec}

_image(image) := _pod({"containers": [{"name": "app", "image": image}]})

_config(rule) := object.union(data.pod.config, {"rules": {"image-tag": rule}})

_got(obj, cfg) := {[v.container, v.field, v.msg] |
	some v in image_tag.violation with input as testing.input_with(obj, cfg) with data.pod.config as cfg
}

_digest := "sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac"

_untagged(image) := sprintf("image %q has neither a tag nor a digest, so the runtime pulls \"latest\"", [image])

_latest(image) := sprintf("image %q uses the disallowed tag \"latest\"", [image])

test_single_image[note] if {
	some note, tc in {
		"tag": {"image": "nginx:1.27.3", "want": set()},
		"no tag": {"image": "nginx", "want": {_untagged("nginx")}},
		"latest": {"image": "nginx:latest", "want": {_latest("nginx:latest")}},
		"tag case matters": {"image": "nginx:Latest", "want": set()},
		"registry port without tag": {"image": "registry:5000/opa", "want": {_untagged("registry:5000/opa")}},
		"registry port with tag": {"image": "registry:5000/opa:0.70.0", "want": set()},
		"registry port with latest": {
			"image": "localhost:5000/team/opa:latest",
			"want": {_latest("localhost:5000/team/opa:latest")},
		},
		"digest": {"image": concat("@", ["nginx", _digest]), "want": set()},
		"tag and digest": {"image": concat("@", ["repo/app:1.2", _digest]), "want": set()},
		"latest pinned by digest": {"image": concat("@", ["repo/app:latest", _digest]), "want": set()},
		"registry port and digest": {"image": "registry:5000/opa@sha256:abc", "want": set()},
	}
	got := {msg | some [_, _, msg] in _got(_image(tc.image), data.pod.config)}
	got == tc.want
}

test_all_container_types if {
	inp := _pod({
		"containers": [{"name": "app", "image": "app:1"}, {"name": "log", "image": "log"}],
		"initContainers": [
			{"name": "init", "image": "init:latest"},
			{"name": "proxy", "image": "proxy", "restartPolicy": "Always"},
		],
		"ephemeralContainers": [{"name": "debug", "image": "busybox"}],
	})
	_got(inp, data.pod.config) == {
		["log", "spec.containers[1].image", _untagged("log")],
		["init", "spec.initContainers[0].image", _latest("init:latest")],
		["proxy", "spec.initContainers[1].image", _untagged("proxy")],
		["debug", "spec.ephemeralContainers[0].image", _untagged("busybox")],
	}
}

test_container_types_configured if {
	inp := _pod({
		"containers": [{"name": "app", "image": "app"}],
		"initContainers": [{"name": "init", "image": "init"}],
		"ephemeralContainers": [{"name": "debug", "image": "busybox"}],
	})
	_got(inp, _config({"containerTypes": ["containers"]})) == {["app", "spec.containers[0].image", _untagged("app")]}
}

test_workload_paths if {
	inp := object.union(_image("nginx:latest"), {"kind": "DaemonSet", "spec_path": "spec.template.spec"})
	_got(inp, data.pod.config) == {["app", "spec.template.spec.containers[0].image", _latest("nginx:latest")]}
}

test_missing_image_is_left_alone if {
	inp := _pod({"containers": [
		{"name": "a"}, {"name": "b", "image": null}, {"name": "c", "image": ""},
		{"name": "d", "image": ["app"]},
	]})
	_got(inp, data.pod.config) == set()
}

test_disallowed_tags_configured[note] if {
	some note, tc in {
		"several tags": {
			"tags": ["latest", "dev", "main"],
			"image": "app:dev",
			"want": {`image "app:dev" uses the disallowed tag "dev"`},
		},
		"latest allowed": {"tags": ["dev"], "image": "app:latest", "want": set()},
		"untagged still fails": {"tags": [], "image": "app", "want": {_untagged("app")}},
	}
	got := {msg | some [_, _, msg] in _got(_image(tc.image), _config({"disallowedTags": tc.tags}))}
	got == tc.want
}

test_exempt_images[note] if {
	some note, tc in {
		"exact name": {"patterns": ["nginx"], "image": "nginx", "exempt": true},
		"exact name does not cover tags": {"patterns": ["nginx"], "image": "nginx:latest", "exempt": false},
		"trailing star covers tags": {
			"patterns": ["openpolicyagent/opa-exp:*"],
			"image": "openpolicyagent/opa-exp:latest",
			"exempt": true,
		},
		"trailing star is per repository": {
			"patterns": ["openpolicyagent/opa-exp:*"],
			"image": "openpolicyagent/opa:latest",
			"exempt": false,
		},
		"star crosses slashes": {"patterns": ["registry.k8s.io/*"], "image": "registry.k8s.io/sig/pause", "exempt": true},
		"star crosses colons": {"patterns": ["registry:5000/*"], "image": "registry:5000/team/app:latest", "exempt": true},
		"star in the middle": {"patterns": ["*/pause:latest"], "image": "registry.k8s.io/x/pause:latest", "exempt": true},
		"any pattern": {"patterns": ["a", "b*"], "image": "busybox", "exempt": true},
		"no match": {"patterns": ["registry.k8s.io/*"], "image": "docker.io/nginx", "exempt": false},
	}
	got := _got(_image(tc.image), _config({"exemptImages": tc.patterns}))
	count(got) == 0 == tc.exempt
}

test_full_violations if {
	inp := _pod({"containers": [{"name": "app", "image": "registry:5000/app"}, {"name": "db", "image": "db:latest"}]})
	image_tag.violation == {
		{
			"msg": `image "registry:5000/app" has neither a tag nor a digest, so the runtime pulls "latest"`,
			"field": "spec.containers[0].image",
			"container": "app",
			"fix": concat("", [
				"pin the image to a version tag or a digest, ",
				`e.g. "registry:5000/app:<version>" or "registry:5000/app@sha256:<digest>"`,
			]),
		},
		{
			"msg": `image "db:latest" uses the disallowed tag "latest"`,
			"field": "spec.containers[1].image",
			"container": "db",
			"fix": `use a version tag or a digest instead of "latest", e.g. "db:<version>"`,
		},
	} with input as testing.input_of(inp)
}
