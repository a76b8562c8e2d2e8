package main

import (
	"bytes"
	"testing"

	"github.com/podguard/podguard/policies/offline"
)

// TestPolicyTestTimeoutFlag: eval runs the policy directory's tests within
// --policy-test-timeout, and one still running then is reported as a timeout, exit 2.
func TestPolicyTestTimeoutFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	dir := "../../test/fixtures/policies/slow-test"
	code := evalCommand(t.Context(), "test", []string{"--policy-dir", dir, "--policy-test-timeout", "100ms", "-f", fixtures + "compliant.yaml"}, nil, &out, &errOut)
	want := "podguard eval: policy tests timed out: each may run for --policy-test-timeout 100ms, and these did not finish " +
		"(a timeout, not a failure: raise --policy-test-timeout on a busy machine, or make the tests faster):\n" +
		"  " + dir + "/slow/slow_test.rego:10: data.pod.rules.slow_test.test_slow\n"
	if code != offline.ExitUsage || out.Len() != 0 || errOut.String() != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, nothing on stdout, stderr:\n%s", code, out.String(), errOut.String(), offline.ExitUsage, want)
	}
}
