package policies

import "embed"

// FS holds the built-in policy set: the Rego rules under pod/, their tests and the
// default configuration (pod/config/data.yaml), so the binary needs no files at run time.
//
//go:embed pod
var FS embed.FS

// DefaultConfigPath is where the default configuration lives inside FS. OPA's own loader
// mounts it at data.pod.config, which is why `opa test policies` needs no extra setup.
const DefaultConfigPath = "pod/config/data.yaml"

// TestQuantitiesPath holds the values of the quantities the built-in policy tests use, which
// `opa test` mounts at data.pod.quantities (podguard serves those of the configuration
// there).
const TestQuantitiesPath = "pod/quantities/data.yaml"
