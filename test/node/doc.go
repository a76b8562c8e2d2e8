// Package node is the end-to-end test of podguard as it runs in a cluster: its chart is
// installed with the Helm SDK on a real kube-apiserver with a real node (kubelet,
// containerd, runc; cluster.StartWithNode), podguard's Pods run from its own image
// ($PODGUARD_IMAGE, `make image`) imported into that node's runtime, and the API
// server calls the webhooks through the chart's Service.
//
// What only a node shows is checked here: the Pods become Ready and serve, they pass
// podguard's own policies and Pod Security "restricted" as the API server enforces it,
// `helm test` runs its Pod, a resize is applied by the kubelet only within the configured
// maximum, an image that cannot be pulled does not lock Pod creates out, and a rolling
// update under a steady stream of creates loses none.
//
// The tests need root, cgroups and containerd (cluster.NodeSupport says which is
// missing); `make e2e-node` installs the packages and builds the binaries first. Without
// them the test fails with the reason: it never skips.
package node
