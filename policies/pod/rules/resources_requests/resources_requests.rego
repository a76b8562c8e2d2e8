# METADATA
# scope: package
# title: Resource requests
# description: |
#   Every container and init container requests the listed resources (default cpu and
#   memory), so the scheduler places the Pod on a node that can run it. Optional min and
#   max bound the requested values. Ephemeral containers cannot have resources and are skipped.
# related_resources:
#   - ref: https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/
#     description: Resource Management for Pods and Containers
# custom:
#   id: resources-requests
package pod.rules.resources_requests

import data.pod.lib

violation := lib.resource_violations("resources-requests", "requests")
