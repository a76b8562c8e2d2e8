// Package conformance checks that podguard's rules mean what users of Gatekeeper,
// Kyverno and Polaris expect, using the external corpus in ../shared/conformance
// (manifests and verdicts taken from those projects' own test suites; see its README).
//
// For every case whose check podguard has a rule for (limits, requests, probes, labels,
// image-tag), the test configures podguard with only the matching rules, restating the
// source's parameters in podguard's configuration format, evaluates the manifest, and
// compares "the rules denied it" with the source's verdict. Cases whose semantics
// podguard cannot express are listed, with the reason, in one table (notExpressible)
// and counted apart; they are never silently dropped.
//
// The corpus lives beside the repository, not in it: <repo>/../shared/conformance, or
// $PODGUARD_CONFORMANCE_DIR. So `make test`, which needs nothing outside the clone, leaves
// this package out; `make conformance` runs it (and .ci/run after make test). Without the
// corpus the test fails: it never passes having compared nothing.
//
//	make conformance    # or: cd test && go test ./conformance/ -count=1 -v
package conformance
