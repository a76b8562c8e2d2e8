// Package webhook is podguard's admission server: the TLS endpoint the API server calls
// (POST /validate and /mutate with admission.k8s.io/v1 AdmissionReviews), the handlers
// that turn a policy decision into an admission response, and the health and metrics
// endpoints. HTTP and AdmissionReview decoding belong to controller-runtime; the policy
// evaluation belongs to policies/engine.
package webhook
