// Package harness runs podguard the way a cluster does, for the real-API-server tests and
// `make demo`: the podguard binary as a separate process serving TLS from a test CA, and
// webhook configurations that register it with a kube-apiserver like the Helm chart does.
package harness
