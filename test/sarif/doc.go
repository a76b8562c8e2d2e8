// Package sarif checks that `podguard eval -o sarif` writes logs that validate against
// the SARIF 2.1.0 schema, which code scanning requires.
package sarif
