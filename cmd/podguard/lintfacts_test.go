package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestNeverTrueComparisonWarns: a rule comparing a container's type with a value the
// facts never hold is named with its file and line, and what the type can be.
func TestNeverTrueComparisonWarns(t *testing.T) {
	const dir = fixtures + "policies/never-true/"
	var out, errOut bytes.Buffer
	evalCommand(t.Context(), "test", []string{"--policy-dir", dir, fixtures + "compliant.yaml"}, strings.NewReader(""), &out, &errOut)
	want := "podguard eval: warning: " + dir + `init_images.rego:7: c.type == "initContainer" compares a container's type with "initContainer", which it never is, so it is never true: did you mean "initContainers"?` + "\n" +
		"podguard eval: warning: " + dir + `init_images.rego:14: c.type != "sidecar" compares a container's type with "sidecar", which it never is, so it is always true (it is one of containers, initContainers, ephemeralContainers)` + "\n"
	if errOut.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut.String(), want)
	}
}
