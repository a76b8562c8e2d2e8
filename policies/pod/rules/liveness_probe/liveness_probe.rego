# METADATA
# scope: package
# title: Liveness probe
# description: |
#   Every long-running container (regular containers, and init containers with
#   restartPolicy Always, i.e. native sidecars) has a livenessProbe with an accepted handler,
#   so the kubelet restarts it when it hangs. Plain init containers and ephemeral containers
#   cannot have probes and are never checked.
# related_resources:
#   - ref: https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
#     description: Configure Liveness, Readiness and Startup Probes
# custom:
#   id: liveness-probe
package pod.rules.liveness_probe

import data.pod.lib

violation := lib.probe_violations("liveness-probe", "livenessProbe")
