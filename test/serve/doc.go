// Package serve tests a running `podguard serve` process without a cluster: hot reload of
// policies and configuration, readiness and metrics, driven by AdmissionReviews posted
// over TLS as the API server would.
package serve
