// Package report turns verdicts on stored objects into OpenReports (openreports.io/v1alpha1)
// Report objects, one per namespace, the way policy engines publish their results for
// Policy Reporter and other readers. `podguard audit -o report` prints them once; the audit
// controller (policies/audit) keeps them up to date in the cluster. The builder takes
// verdicts, never command-line state, so every caller writes the same reports.
package report
