// Package report checks that `podguard eval -o report` writes OpenReports Reports that a
// real kube-apiserver accepts, with the CRD taken from github.com/openreports/reports-api.
package report
