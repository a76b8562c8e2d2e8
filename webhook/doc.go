// Package webhook is podguard's admission server: the TLS endpoint the API server calls
// (POST /validate and /mutate with admission.k8s.io/v1 AdmissionReviews), the handlers
// that turn a policy decision into an admission response, and the health and metrics
// endpoints. podguard owns its HTTP layer (hook.go: bounded body, gate, one decoding, all
// through the engine's JSON reader; listen.go: connection bounds and the drain);
// controller-runtime supplies the admission types and the certificate watcher, and the
// policy evaluation belongs to policies/engine.
package webhook
