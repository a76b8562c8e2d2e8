// Package harness runs podguard the way a cluster does, for the real-API-server tests and
// `make demo`: the podguard binary as a separate process serving TLS from a test CA, and
// webhook configurations that register it with a kube-apiserver like the Helm chart does.
// It also holds the start-up those tests share: a cluster with its admin kubeconfig for a
// whole test binary (StartEnv), a cluster whose API server reaches webhooks only through
// an egress proxy (StartClusterBehindProxy), and ServiceAccount identities for podguard.
package harness
