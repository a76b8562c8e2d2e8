// Package selftest is `podguard selftest`, what the chart's `helm test` runs: it builds,
// from the effective configuration, a Pod that follows every rule and one that breaks
// one, checks both with the policy engine as the webhook would, then asks the API server
// for a server-side dry-run of each and compares the answers with those verdicts: the
// compliant Pod admitted, the violating one refused by podguard's validating webhook with
// podguard's own messages (or admitted with its warnings, when the rule it breaks warns).
//
// It lives beside policies/audit, the other command that reads a cluster with the
// policies in hand: its work is deriving objects from the configuration, and it uses the
// webhook only as the API server does, over the network. The command line is
// cmd/podguard/selftest.go.
package selftest
