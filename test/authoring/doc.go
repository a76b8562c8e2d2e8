// Package authoring tests what a policy author runs: the podguard binary's own commands
// for custom rules, used the way an author uses them, away from podguard's source.
package authoring
