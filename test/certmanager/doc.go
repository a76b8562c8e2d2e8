// Package certmanager is the end-to-end test of the Helm chart's TLS path, with no
// container runtime: cert-manager's CRDs and its own controllers (run in-process from its
// Go packages) turn the chart's Issuers and Certificates into a Secret and inject the CA
// into the chart's webhook configurations, on a real kube-apiserver; a podguard process
// serving that Secret then admits and refuses Pods for that API server.
//
// The API server reaches podguard through the chart's Service reference unchanged: its
// egress selector sends "cluster" traffic (webhook calls included) through an HTTP
// CONNECT proxy on a Unix socket, which the test runs and which connects the Service's
// address to the local podguard. TLS is verified as in a cluster, against the Service
// DNS name podguard.<namespace>.svc and the injected caBundle.
//
// The chart's `helm test` runs there too: its hook objects are applied and its Pod's
// command (podguard selftest, with the ConfigMaps where the Pod mounts them) runs as the
// hook's ServiceAccount against that API server.
package certmanager
