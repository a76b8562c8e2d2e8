package pod.lib_test

import data.pod.lib

_pod := {
	"kind": "Pod",
	"namespace": "default",
	"name": "web",
	"spec_path": "spec",
	"spec": {
		"containers": [{"name": "app", "image": "app:1"}, {"name": "log", "image": "log:1"}],
		"initContainers": [
			{"name": "migrate", "image": "migrate:1"},
			{"name": "proxy", "image": "proxy:1", "restartPolicy": "Always"},
			{"name": "never", "image": "never:1", "restartPolicy": "Never"},
		],
		"ephemeralContainers": [{"name": "debug", "image": "busybox:1"}],
	},
}

_paths(cs) := {c.path | some c in cs}

test_containers_walks_every_list_with_paths if {
	got := {[c.type, c.index, c.name, c.path] | some c in lib.containers} with input as _pod
	got == {
		["containers", 0, "app", "spec.containers[0]"],
		["containers", 1, "log", "spec.containers[1]"],
		["initContainers", 0, "migrate", "spec.initContainers[0]"],
		["initContainers", 1, "proxy", "spec.initContainers[1]"],
		["initContainers", 2, "never", "spec.initContainers[2]"],
		["ephemeralContainers", 0, "debug", "spec.ephemeralContainers[0]"],
	}
}

test_containers_carry_the_container if {
	some c in lib.containers with input as _pod
	c.path == "spec.initContainers[1]"
	c.container == {"name": "proxy", "image": "proxy:1", "restartPolicy": "Always"}
}

test_containers_of_workload_use_spec_path if {
	workload := object.union(_pod, {"kind": "CronJob", "spec_path": "spec.jobTemplate.spec.template.spec"})
	got := _paths(lib.containers_of(["containers"])) with input as workload
	got == {"spec.jobTemplate.spec.template.spec.containers[0]", "spec.jobTemplate.spec.template.spec.containers[1]"}
}

test_spec_path_defaults_to_spec if {
	got := _paths(lib.containers) with input as {"spec": {"containers": [{"name": "a"}]}}
	got == {"spec.containers[0]"}
}

test_containers_tolerate_missing_and_null_parts[note] if {
	some note, spec in {
		"no spec": null,
		"empty spec": {},
		"null lists": {"containers": null, "initContainers": null, "ephemeralContainers": null},
		"wrong types": {"containers": "app", "initContainers": {"name": "x"}},
		"null entries": {"containers": [null, "app"]},
	}
	inp := {"kind": "Pod", "spec_path": "spec", "spec": spec}
	count(lib.containers) == 0 with input as inp
}

test_container_without_name if {
	got := {[c.name, c.path] | some c in lib.containers} with input as {"spec": {"containers": [{"image": "a:1"}]}}
	got == {["", "spec.containers[0]"]}
}

test_containers_of_selects_types[note] if {
	some note, tc in {
		"containers": {"types": ["containers"], "want": {"spec.containers[0]", "spec.containers[1]"}},
		"init only": {
			"types": ["initContainers"],
			"want": {"spec.initContainers[0]", "spec.initContainers[1]", "spec.initContainers[2]"},
		},
		"ephemeral": {"types": ["ephemeralContainers"], "want": {"spec.ephemeralContainers[0]"}},
		"none": {"types": [], "want": set()},
	}
	_paths(lib.containers_of(tc.types)) == tc.want with input as _pod
}

test_with_resources_never_returns_ephemeral if {
	got := _paths(lib.with_resources(lib.container_types)) with input as _pod
	got == {
		"spec.containers[0]", "spec.containers[1]",
		"spec.initContainers[0]", "spec.initContainers[1]", "spec.initContainers[2]",
	}
}

test_long_running_selects_containers_and_native_sidecars[note] if {
	some note, tc in {
		"both": {
			"types": ["containers", "initContainers"],
			"want": {"spec.containers[0]", "spec.containers[1]", "spec.initContainers[1]"},
		},
		"containers only": {"types": ["containers"], "want": {"spec.containers[0]", "spec.containers[1]"}},
		"sidecars only": {"types": ["initContainers"], "want": {"spec.initContainers[1]"}},
		"ephemeral never": {"types": ["ephemeralContainers"], "want": set()},
		"all three": {
			"types": lib.container_types,
			"want": {"spec.containers[0]", "spec.containers[1]", "spec.initContainers[1]"},
		},
	}
	_paths(lib.long_running(tc.types)) == tc.want with input as _pod
}

test_resource_value[note] if {
	some note, tc in {
		"set": {"container": {"resources": {"limits": {"cpu": "1"}}}, "want": "1"},
		"number": {"container": {"resources": {"limits": {"cpu": 0.5}}}, "want": 0.5},
		"zero is set": {"container": {"resources": {"limits": {"cpu": 0}}}, "want": 0},
	}
	lib.resource_value(tc.container, "limits", "cpu") == tc.want
}

test_resource_value_missing[note] if {
	some note, container in {
		"no resources": {},
		"null resources": {"resources": null},
		"null section": {"resources": {"limits": null}},
		"other section": {"resources": {"requests": {"cpu": "1"}}},
		"null value": {"resources": {"limits": {"cpu": null}}},
		"empty string": {"resources": {"limits": {"cpu": ""}}},
	}
	not lib.resource_value(container, "limits", "cpu")
}

test_quantity[note] if {
	some note, tc in {
		"milli": {"q": "100m", "want": 0.1},
		"plain string": {"q": "2", "want": 2},
		"decimal string": {"q": "0.5", "want": 0.5},
		"bare integer": {"q": 1, "want": 1},
		"bare decimal": {"q": 0.05, "want": 0.05},
		"binary": {"q": "1Gi", "want": 1073741824},
		"decimal si": {"q": "6G", "want": 6000000000},
		"kilo": {"q": "1k", "want": 1000},
		"Ki": {"q": "1Ki", "want": 1024},
		"Mi": {"q": "128Mi", "want": 134217728},
		"mega is not milli": {"q": "1M", "want": 1000000},
		"bytes": {"q": "104857599", "want": 104857599},
		"exponent": {"q": "1e3", "want": 1000},
		"micro": {"q": "250u", "want": 0.00025},
		"nano": {"q": "500n", "want": 0.0000005},
	}
	lib.quantity(tc.q) == tc.want
}

test_quantity_compares_units if {
	lib.quantity("6G") < lib.quantity("6Gi")
	lib.quantity("1000m") == lib.quantity(1)
	lib.quantity("0.1") == lib.quantity("100m")
	lib.quantity("100Mi") > lib.quantity("104857599")
}

test_quantity_undefined[note] if {
	some note, q in {
		"garbage": "abc",
		"unknown unit": "1Q",
		"empty": "",
		"null": null,
		"object": {"cpu": 1},
	}
	not lib.quantity(q)
}

test_show_quantity if {
	lib.show_quantity("100m") == `"100m"`
	lib.show_quantity(0.5) == "0.5"
}

test_parse_image[note] if {
	some note, tc in {
		"name only": {"image": "nginx", "want": {"name": "nginx", "tag": "", "digest": ""}},
		"tag": {"image": "nginx:1.27", "want": {"name": "nginx", "tag": "1.27", "digest": ""}},
		"path and tag": {"image": "library/nginx:latest", "want": {"name": "library/nginx", "tag": "latest", "digest": ""}},
		"registry port no tag": {
			"image": "registry:5000/opa",
			"want": {"name": "registry:5000/opa", "tag": "", "digest": ""},
		},
		"registry port and tag": {
			"image": "registry:5000/team/opa:0.9",
			"want": {"name": "registry:5000/team/opa", "tag": "0.9", "digest": ""},
		},
		"digest": {
			"image": "nginx@sha256:0123abcd",
			"want": {"name": "nginx", "tag": "", "digest": "sha256:0123abcd"},
		},
		"tag and digest": {
			"image": "repo/app:1.2@sha256:0123abcd",
			"want": {"name": "repo/app", "tag": "1.2", "digest": "sha256:0123abcd"},
		},
		"port, tag and digest": {
			"image": "localhost:5000/app:latest@sha256:0123abcd",
			"want": {"name": "localhost:5000/app", "tag": "latest", "digest": "sha256:0123abcd"},
		},
		"empty": {"image": "", "want": {"name": "", "tag": "", "digest": ""}},
	}
	lib.parse_image(tc.image) == tc.want
}

test_image[note] if {
	some note, tc in {
		"set": {"container": {"image": "a:1"}, "want": "a:1"},
		"missing": {"container": {}, "want": ""},
		"null": {"container": {"image": null}, "want": ""},
	}
	lib.image(tc.container) == tc.want
}

test_or_list[note] if {
	some note, tc in {
		"none": {"words": [], "want": ""},
		"one": {"words": ["exec"], "want": "exec"},
		"two": {"words": ["exec", "grpc"], "want": "exec or grpc"},
		"four": {"words": ["exec", "httpGet", "tcpSocket", "grpc"], "want": "exec, httpGet, tcpSocket or grpc"},
	}
	lib.or_list(tc.words) == tc.want
}

test_rule_config[note] if {
	some note, tc in {
		"configured": {"id": "image-tag", "want": {"enforcement": "warn"}},
		"unknown rule": {"id": "custom-rule", "want": {}},
	}
	cfg := {"rules": {"image-tag": {"enforcement": "warn"}}}
	lib.rule_config(tc.id) == tc.want with data.pod.config as cfg
}

test_rule_config_without_rules if {
	lib.rule_config("image-tag") == {} with data.pod.config as {}
}
