// Package audit judges the Pods and workloads already stored in a cluster with the current
// policies. Judge and Run are `podguard audit`: they list the objects once and report what
// violates the policies, grouped by namespace and rule, for admins to read before switching
// a rule from warn to deny. Watch and AddController are `podguard audit --watch`: a
// controller-runtime controller that keeps one OpenReports Report per namespace up to
// date (policies/report builds them). Each object is decided by engine.Review (Source
// Stored, which leaves an object made by a controller podguard judges to that controller);
// the command line is cmd/podguard/audit.go.
package audit
