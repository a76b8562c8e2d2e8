// Package prefilter proves podguard's generated matchConditions (policies/prefilter) with
// the API server's own CEL: every object they let the API server skip is one podguard
// would allow unchanged, with no finding to report.
package prefilter
