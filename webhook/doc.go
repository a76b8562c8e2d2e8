// Package webhook is podguard's admission server: the TLS endpoint the API server calls
// (POST /validate and /mutate with admission.k8s.io/v1 AdmissionReviews), the handlers
// that turn a policy decision into an admission response, and the health and metrics
// endpoints. A handler reads the review, asks engine.Review for the verdict and writes it
// as an admission response: which requests are judged, at which stage, and what an
// UPDATE adds are the engine's to decide.
package webhook
