// Package offline is `podguard eval`: it judges manifests from files or stdin the way the
// cluster would (defaults filled in first, then every rule), lists every violation of the
// manifest as written and exits 1 only when the cluster would refuse one. It reads what
// kubectl would be given: documents as kubectl reads them, charts rendered with the Helm
// SDK and kustomizations built with kustomize's API, offline (render.go). Each manifest is
// decided by engine.Review (Source Manifest); the command line is cmd/podguard/eval.go.
package offline
