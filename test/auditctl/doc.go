// Package auditctl tests the audit controller (`podguard audit --watch`) and
// `podguard audit -o report` against a real kube-apiserver with the OpenReports CRDs
// applied from the reports-api module: reports appear, follow the objects and the
// configuration, go when nothing is left to report, and one replica of two writes them.
package auditctl
