package pod.testing_test

import data.pod.testing

# input.spec is the PodSpec as written, so a rule that reads securityContext or volumes
# from it sees in a test what it sees in podguard.
test_pod_gives_input_spec if {
	inp := testing.pod({"containers": [{"name": "app"}], "securityContext": {"runAsNonRoot": true}})
	inp.spec.securityContext.runAsNonRoot == true
	inp.object == {
		"kind": "Pod",
		"metadata": {"name": "", "namespace": "default", "labels": {}},
		"spec": {"containers": [{"name": "app"}], "securityContext": {"runAsNonRoot": true}},
	}
}

# A workload's object has its labels and PodSpec at the paths the input names.
test_input_of_builds_a_workload_object if {
	inp := testing.input_of({
		"kind": "CronJob", "name": "nightly", "namespace": "jobs", "labels": {"app": "n"},
		"labels_path": "spec.jobTemplate.spec.template.metadata.labels",
		"spec_path": "spec.jobTemplate.spec.template.spec",
		"spec": {"containers": [{"name": "job"}]},
	})
	inp.spec == {"containers": [{"name": "job"}]}
	inp.object == {
		"kind": "CronJob",
		"metadata": {"name": "nightly", "namespace": "jobs"},
		"spec": {"jobTemplate": {"spec": {"template": {
			"metadata": {"labels": {"app": "n"}},
			"spec": {"containers": [{"name": "job"}]},
		}}}},
	}
}

# An object the test gives (for annotations, say) is input.object as it is.
test_input_of_keeps_a_given_object if {
	obj := {"kind": "Pod", "metadata": {"name": "p", "annotations": {"a": "b"}}, "spec": {"containers": []}}
	inp := testing.input_of({"spec": obj.spec, "object": obj})
	inp.object == obj
}
