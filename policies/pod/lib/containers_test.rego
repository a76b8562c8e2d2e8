package pod.lib_test

import data.pod.lib
import data.pod.testing

_spec := {
	"containers": [{"name": "app", "image": "app:1"}, {"name": "log", "image": "log:1"}],
	"initContainers": [
		{"name": "migrate", "image": "migrate:1"},
		{"name": "proxy", "image": "proxy:1", "restartPolicy": "Always"},
		{"name": "never", "image": "never:1", "restartPolicy": "Never"},
	],
	"ephemeralContainers": [{"name": "debug", "image": "busybox:1"}],
}

_pod := testing.input_of({"kind": "Pod", "namespace": "default", "name": "web", "spec": _spec})

_paths(cs) := {c.path | some c in cs}

test_containers_in_order_with_paths if {
	got := [[c.type, c.index, c.name, c.path] | some c in lib.containers] with input as _pod
	got == [
		["containers", 0, "app", "spec.containers[0]"],
		["containers", 1, "log", "spec.containers[1]"],
		["initContainers", 0, "migrate", "spec.initContainers[0]"],
		["initContainers", 1, "proxy", "spec.initContainers[1]"],
		["initContainers", 2, "never", "spec.initContainers[2]"],
		["ephemeralContainers", 0, "debug", "spec.ephemeralContainers[0]"],
	]
}

test_container_facts if {
	inp := testing.pod({"initContainers": [{
		"name": "proxy",
		"image": "registry:5000/proxy:1.2",
		"restartPolicy": "Always",
		"resources": {"requests": {"cpu": "100m", "memory": "lots"}},
		"livenessProbe": {"httpGet": {"port": 8080}},
		"readinessProbe": {"periodSeconds": 5},
	}]})
	some c in lib.containers with input as inp
	object.remove(c, ["unset"]) == {
		"type": "initContainers",
		"index": 0,
		"name": "proxy",
		"path": "spec.initContainers[0]",
		"long_running": true,
		"image": {"reference": "registry:5000/proxy:1.2", "name": "registry:5000/proxy", "tag": "1.2", "digest": ""},
		"resources": {"requests": {
			"cpu": {"value": "100m", "number": 0.1},
			"memory": {"value": "lots", "error": "is not a quantity such as 500m, 2 or 256Mi"},
		}},
		"probes": {"livenessProbe": ["httpGet"], "readinessProbe": []},
		"unreadable": {"requests": ["memory"]},
	}
	c.unset.probes == {"startupProbe": "spec.initContainers[0].startupProbe"}
}

# The facts list what a container leaves unset, of the resources the configuration names,
# with the field path each would have.
test_container_unset_follows_the_configuration if {
	cfg := {"rules": {
		"resources-requests": {"resources": ["ephemeral-storage"]},
		"resources-limits": {"resources": ["ephemeral-storage"]},
	}}
	inp := testing.input_with({"spec": {"containers": [{"name": "app"}]}}, cfg)
	some c in lib.containers with input as inp
	c.unset == {
		"requests": {"ephemeral-storage": "spec.containers[0].resources.requests.ephemeral-storage"},
		"limits": {"ephemeral-storage": "spec.containers[0].resources.limits.ephemeral-storage"},
		"probes": {
			"livenessProbe": "spec.containers[0].livenessProbe",
			"readinessProbe": "spec.containers[0].readinessProbe",
			"startupProbe": "spec.containers[0].startupProbe",
		},
	}
}

test_containers_of_workload_use_spec_path if {
	workload := testing.input_of({"kind": "CronJob", "spec_path": "spec.jobTemplate.spec.template.spec", "spec": _spec})
	got := _paths(lib.containers_of(["containers"])) with input as workload
	got == {"spec.jobTemplate.spec.template.spec.containers[0]", "spec.jobTemplate.spec.template.spec.containers[1]"}
}

test_paths_and_labels[note] if {
	some note, tc in {
		"pod": {
			"obj": {"labels": {"app": "web"}},
			"want": ["spec", "metadata.labels", {"app": "web"}],
		},
		"workload": {
			"obj": {
				"kind": "Deployment",
				"spec_path": "spec.template.spec",
				"labels_path": "spec.template.metadata.labels",
				"labels": {"app": "web", "replicas": 3},
			},
			"want": ["spec.template.spec", "spec.template.metadata.labels", {"app": "web"}],
		},
	}
	got := [lib.spec_path, lib.labels_path, lib.labels] with input as testing.input_of(tc.obj)
	got == tc.want
}

test_containers_tolerate_missing_and_null_parts[note] if {
	some note, spec in {
		"no spec": null,
		"empty spec": {},
		"null lists": {"containers": null, "initContainers": null, "ephemeralContainers": null},
		"wrong types": {"containers": "app", "initContainers": {"name": "x"}},
		"null entries": {"containers": [null, "app"]},
	}
	count(lib.containers) == 0 with input as testing.pod(spec)
}

test_container_without_name if {
	got := {[c.name, c.path] | some c in lib.containers} with input as testing.pod({"containers": [{"image": "a:1"}]})
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

test_config_quantity[note] if {
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
	lib.config_quantity(tc.q) == tc.want
}

test_config_quantity_compares_units if {
	lib.config_quantity("6G") < lib.config_quantity("6Gi")
	lib.config_quantity("1000m") == lib.config_quantity(1)
	lib.config_quantity("0.1") == lib.config_quantity("100m")
	lib.config_quantity("100Mi") > lib.config_quantity("104857599")
}

# podguard reads every quantity of the configuration when it loads it (and refuses a
# configuration with one it cannot read); a string it has no value for has no value here.
test_config_quantity_undefined[note] if {
	some note, q in {
		"garbage": "abc",
		"unknown unit": "1Q",
		"empty": "",
		"null": null,
		"object": {"cpu": 1},
	}
	not lib.config_quantity(q)
}

test_config_quantity_reads_what_podguard_read if {
	lib.config_quantity("lots") == 7 with data.pod.quantities as {"lots": 7}
}

test_show_quantity[note] if {
	some note, tc in {
		"string": {"q": "100m", "want": `"100m"`},
		"number": {"q": 0.5, "want": "0.5"},
		"64 characters, whole": {"q": concat("", [_zeros(61), "1Gi"]), "want": sprintf(`"%s1Gi"`, [_zeros(61)])},
		"65 characters, shortened": {"q": concat("", [_zeros(62), "1Gi"]), "want": sprintf(`"%s... (65 characters)"`, [_zeros(32)])},
	}
	lib.show_quantity(tc.q) == tc.want
}

_zeros(n) := concat("", [z | some _ in numbers.range(1, n); z := "0"])

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
