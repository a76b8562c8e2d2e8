# METADATA
# scope: package
# title: Readiness probe
# description: |
#   Every long-running container (regular containers, and init containers with
#   restartPolicy Always, i.e. native sidecars) has a readinessProbe with an accepted handler,
#   so Services send traffic only to Pods that can serve it. Plain init containers and
#   ephemeral containers cannot have probes and are never checked.
# related_resources:
#   - ref: https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
#     description: Configure Liveness, Readiness and Startup Probes
# custom:
#   id: readiness-probe
package pod.rules.readiness_probe

import data.pod.lib

violation := lib.probe_violations("readiness-probe", "readinessProbe")
