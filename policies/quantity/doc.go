// Package quantity reads Kubernetes resource quantities ("500m", "2", "256Mi") as the API
// server does (k8s.io/apimachinery's resource.ParseQuantity), in time and memory linear in
// the length of the string.
//
// The API server keeps what it reads exactly, whatever the exponent: "1e999999" is stored as
// written. Comparing such values as numbers the usual way (big.Rat, inf.Dec) builds a number
// of a million digits, which is how a single quantity could hold a replica for seconds. So
// podguard reads the value itself, digit by digit, and hands the rules a decimal of bounded
// size: a quantity whose magnitude is at most Max, the largest value Kubernetes' own int64
// readings of a quantity can hold, is compared exactly; a larger one is refused with
// ErrRange, which the rules report as a violation, never as a pass.
package quantity
