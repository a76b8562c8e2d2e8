// Package report turns verdicts into OpenReports (openreports.io/v1alpha1) Report objects,
// one per namespace, the way policy engines publish their results for Policy Reporter and
// other readers. It is podguard's one builder of them: `podguard audit -o report` prints
// them once, the audit controller (policies/audit) keeps them up to date in the cluster, and
// `podguard eval -o report` (policies/offline) prints those manifests would get once
// applied. The builder takes verdicts, never command-line state, so every caller writes the
// same reports.
package report
