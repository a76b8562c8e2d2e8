// Package chart renders the Helm chart in charts/podguard with the Helm SDK, as
// `helm install` would, for its own tests and for the cert-manager end-to-end test.
//
// Its tests lint the chart, render it with the default values and with each
// ci/*-values.yaml (golden files in testdata/, refreshed with -update), check that the
// webhook registration equals the one the real-API-server tests use
// (harness.Webhooks), that values.schema.json and the template checks refuse bad
// values, and that every Pod the chart runs passes `podguard eval` with podguard's own
// default policies.
package chart
