// Package install is the life-cycle test of the Helm chart on a real kube-apiserver, where
// no Pod ever runs (there is no kubelet): the chart is installed, upgraded and uninstalled
// with the Helm SDK (Helm 3's, and Helm 4's, which applies server-side), and a podguard process that the test starts with the Deployment's
// args and the release's Secret and ConfigMaps stands for a replica. The API server
// reaches it through the chart's Service via an egress proxy (harness.EgressProxy), which
// refuses the Service's address while no replica "runs", as a Service without endpoints
// would.
//
// It checks that no step can lock Pods out: before podguard is ready the webhooks are in
// force but fail open, a ready podguard whose certificate the caBundle does not verify
// leaves them so, a ready one that the API server can verify turns them to Fail and
// refuses a violating Pod, an upgrade keeps that, and `helm uninstall` leaves no webhook
// configuration behind.
package install
