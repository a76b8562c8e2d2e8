// Package engine compiles a policy set once (Load) and decides reviews with it.
//
// Review is the one decision every caller makes: the validating and mutating webhooks,
// podguard eval (Source Manifest) and podguard audit (Source Stored). It decides whether a
// request is judged at all (operation, subresource, kind, exempt namespace, and for a
// stored object its owner), reads the object in place into the facts the rules read
// (object.go, facts.go), picks the stage of admission it is judged at (as written, with
// the API server's and the LimitRanges' defaults, with podguard's own too), evaluates the
// rules once (policies/vm, or OPA's evaluator: engine.go's evaluator is the one seam
// between them), and on UPDATE keeps apart the violations the old object had already.
// With Mutate it returns podguard's defaults and the object with them filled in.
//
// Every JSON podguard reads goes through one scanner (scan.go), exported as Reader for
// the webhook's review and cost passes. Objects arrive as a Body (body.go): text that
// nothing can change, which is what lets the scanner hand out slices of it.
package engine
