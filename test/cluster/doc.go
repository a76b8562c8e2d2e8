// Package cluster runs a real kube-apiserver backed by a real etcd for
// podguard's tests, so admission webhooks, RBAC and CRDs are exercised by the
// same code that serves them in production instead of by fakes.
//
// Both binaries are built from the Go module proxy with `go build` (no
// prebuilt downloads) at the Kubernetes version that matches the k8s.io/api
// this module is built with, and cached outside the repository, keyed by
// version: $PODGUARD_TEST_BIN_DIR, else $XDG_CACHE_HOME/podguard/bin, else
// ~/.cache/podguard/bin. The first kube-apiserver build takes several minutes;
// `go run ./cluster/cmd/prebuild` does it up front so the cost is visible and
// no test hits `go test`'s default 10 minute timeout. Later runs only stat the
// cached files.
//
// Start gives a test a cluster that is torn down by t.Cleanup; StartProcess
// is the same thing for programs such as demos. The client authenticates
// with a client certificate in group system:masters; authorization is RBAC,
// so least-privilege checks can impersonate other users.
//
// StartWithNode adds a node: kubelet, kube-controller-manager and kube-scheduler
// (built like kube-apiserver), containerd (Debian's) with runc and the CNI
// plugins (built from the module proxy), a locally built pause image, and Pods
// on a bridge of the harness's own. It needs root; NodeSupport says what is
// missing. Everything it starts and changes is undone in t.Cleanup.
package cluster
