# The OPA baseline of the load benchmark: what a user would run instead of podguard.
# `opa run --server` answers POST / with data.system.main, taking the request body
# (an AdmissionReview) as input, which makes OPA itself the admission webhook.
#
# It checks what podguard's default configuration checks, written the way such policies
# are usually written: cpu and memory requests and limits on containers and init
# containers, liveness and readiness probes on long-running containers (containers and
# native sidecars), the app.kubernetes.io/name label, and image tags (a tag or digest,
# not latest). Workloads are judged by their pod template.
package system

main := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"response": response,
}

default uid := ""

uid := input.request.uid

response := {"uid": uid, "allowed": true} if count(deny) == 0

response := {
	"uid": uid,
	"allowed": false,
	"status": {"code": 403, "reason": "Forbidden", "message": concat("\n", sort(deny))},
} if {
	count(deny) > 0
}

template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

pod := input.request.object if input.request.kind.kind == "Pod"

pod := input.request.object.spec.template if input.request.kind.kind in template_kinds

pod := input.request.object.spec.jobTemplate.spec.template if input.request.kind.kind == "CronJob"

prefix := "" if input.request.kind.kind == "Pod"

prefix := "spec.template." if input.request.kind.kind in template_kinds

prefix := "spec.jobTemplate.spec.template." if input.request.kind.kind == "CronJob"

containers contains [sprintf("%sspec.%s[%d]", [prefix, type, i]), c] if {
	some type in ["containers", "initContainers"]
	some i, c in pod.spec[type]
}

long_running contains [sprintf("%sspec.containers[%d]", [prefix, i]), c] if {
	some i, c in pod.spec.containers
}

long_running contains [sprintf("%sspec.initContainers[%d]", [prefix, i]), c] if {
	some i, c in pod.spec.initContainers
	c.restartPolicy == "Always"
}

images contains [sprintf("%sspec.%s[%d]", [prefix, type, i]), c] if {
	some type in ["containers", "initContainers", "ephemeralContainers"]
	some i, c in pod.spec[type]
	c.image
}

deny contains msg if {
	not pod.metadata.labels["app.kubernetes.io/name"]
	msg := sprintf("[required-labels] required label %q is not set (%smetadata.labels)", ["app.kubernetes.io/name", prefix])
}

deny contains msg if {
	some [path, c] in containers
	some section in ["requests", "limits"]
	some resource in ["cpu", "memory"]
	not c.resources[section][resource]
	msg := sprintf("[resources-%s] container %q: %s %s is not set (%s.resources.%s.%s)", [section, c.name, resource, section, path, section, resource])
}

deny contains msg if {
	some [path, c] in long_running
	some probe, rule in {"livenessProbe": "liveness-probe", "readinessProbe": "readiness-probe"}
	not c[probe]
	msg := sprintf("[%s] container %q: %s is not set (%s.%s)", [rule, c.name, probe, path, probe])
}

deny contains msg if {
	some [path, c] in images
	not contains(c.image, "@")
	tag := image_tag(c.image)
	tag == ""
	msg := sprintf("[image-tag] container %q: image %q has neither a tag nor a digest (%s.image)", [c.name, c.image, path])
}

deny contains msg if {
	some [path, c] in images
	not contains(c.image, "@")
	image_tag(c.image) == "latest"
	msg := sprintf("[image-tag] container %q: image %q uses the disallowed tag \"latest\" (%s.image)", [c.name, c.image, path])
}

# The tag is what follows a colon in the last path segment, so a registry port is no tag.
image_tag(image) := tag if {
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	tag := substring(last, indexof(last, ":") + 1, -1)
} else := ""
