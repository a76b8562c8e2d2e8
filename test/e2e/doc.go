// Package e2e tests podguard as the API server calls it: a real kube-apiserver and etcd
// (package cluster), the podguard binary as a separate process, and webhook
// configurations like the chart's. Every test acts through client-go, as a user would.
package e2e
