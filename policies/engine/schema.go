package engine

import "github.com/open-policy-agent/opa/v1/ast"

// The input document of an evaluation, declared once: every member of input and of each
// of its containers. The keys interned for the builder (input.go) and the keys planFor
// knows come from these tables, and TestInputSchema holds the builder and the reference
// in policies/README.md ("Input: facts") to them.

// inputField is a member of input.
type inputField struct {
	key string
	// converted members are the object itself, built only when a rule of the set reads
	// them (inputPlan); the others are facts every evaluation carries.
	converted bool
}

// inputFields are the members of input.
var inputFields = []inputField{
	{key: "kind"}, {key: "namespace"}, {key: "name"},
	{key: "labels"}, {key: "labels_path"}, {key: "spec_path"}, {key: "namespace_labels"},
	{key: "apply_defaults"}, {key: "containers"}, {key: "pod_resources"},
	{key: "spec", converted: true}, {key: "object", converted: true},
}

// containerFields are the members of each of input.containers; image and unreadable are
// left out when there is nothing to say.
var containerFields = []string{
	"type", "index", "name", "path", "long_running", "resources", "probes", "unset", "image", "unreadable",
}

// findInputField returns the member of input named key.
func findInputField(key string) (inputField, bool) {
	for _, f := range inputFields {
		if f.key == key {
			return f, true
		}
	}
	return inputField{}, false
}

func init() {
	for _, f := range inputFields {
		ast.InternStringTerm(f.key)
	}
	ast.InternStringTerm(containerFields...)
	ast.InternStringTerm(
		// Inside the facts: images, quantities, resources, probes.
		"reference", "tag", "digest", "requests", "limits", "value", "number", "error",
		"containers", "initContainers", "ephemeralContainers",
		"livenessProbe", "readinessProbe", "startupProbe", "exec", "httpGet", "tcpSocket", "grpc",
		"cpu", "memory", "ephemeral-storage", "", "metadata.labels",
		// What evaluate and additions read from a result.
		"rule", "enforcement", "enforce_after", "violations", "msg", "field", "container", "fix",
		"containerType", "section", "resource",
	)
}
