// Package prefilter writes, from the configuration podguard serves, the CEL matchConditions
// that let the API server skip a webhook call whose answer cannot matter: /mutate for a Pod
// that already has every resource podguard would default, /validate for an object that
// complies with every built-in rule in every namespace. Each condition is true (call)
// unless the object is proven to need no call, and is written so that it cannot fail to
// evaluate: under failurePolicy Ignore the API server skips the webhook on an error.
package prefilter
