# METADATA
# scope: package
# title: Startup probe
# description: |
#   Every long-running container (regular containers, and init containers with
#   restartPolicy Always, i.e. native sidecars) has a startupProbe with an accepted handler,
#   so slow starters are not killed by their liveness probe. Off by default. Plain init
#   containers and ephemeral containers cannot have probes and are never checked.
# related_resources:
#   - ref: https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
#     description: Configure Liveness, Readiness and Startup Probes
# custom:
#   id: startup-probe
package pod.rules.startup_probe

import data.pod.lib

violation := lib.probe_violations("startup-probe", "startupProbe")
