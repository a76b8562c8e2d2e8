// Package lifecycle drives a real `podguard serve` process through the events of its life
// in a cluster, under continuous load: its certificate renewed through the kubelet's
// symlink swap, SIGTERM during a rollout, and policy changes through a ConfigMap swap. A
// load loop of concurrent keep-alive TLS callers, like the API server, counts every
// failed review; each event must cost none.
package lifecycle
