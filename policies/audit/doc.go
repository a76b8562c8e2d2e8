// Package audit is `podguard audit`: it judges the Pods and workloads already stored in a
// cluster with the current policies, and lists what violates them, grouped by namespace
// and rule. Admins run it before switching a rule from warn to deny. Each object is
// decided by engine.Review (Source Stored, which leaves an object made by a controller
// podguard judges to that controller); the command line is cmd/podguard/audit.go.
package audit
