// Package policies embeds podguard's built-in Rego policies and default configuration.
//
// The Rego lives in pod/: main.rego holds the single entrypoint (data.pod.decision), lib/
// the shared container walker, rules/<id>/ one package per best practice, defaults/ the
// mutation defaults. The Go that compiles and evaluates them is in the engine subpackage;
// the configuration file format is in the config subpackage.
package policies
