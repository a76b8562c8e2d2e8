package engine_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/podguard/podguard/policies/engine"
)

// TestPolicyTestTimeout: a policy test that does not finish within --policy-test-timeout
// refuses the set with a message that says it timed out and what to raise, not that it
// failed. The test is slow by construction (ten billion steps), so the deadline, not the
// machine, decides.
func TestPolicyTestTimeout(t *testing.T) {
	// Outside policies/, so that opa test policies and TestRego leave it alone.
	dir := filepath.Join("..", "..", "test", "fixtures", "policies", "slow-test")
	_, err := engine.Load(t.Context(), engine.Options{PolicyDir: dir, RunTests: true, TestTimeout: 100 * time.Millisecond})
	want := "policy tests timed out: each may run for --policy-test-timeout 100ms, and these did not finish " +
		"(a timeout, not a failure: raise --policy-test-timeout on a busy machine, or make the tests faster):\n" +
		"  " + filepath.Join(dir, "slow", "slow_test.rego") + ":10: data.pod.rules.slow_test.test_slow"
	if err == nil || err.Error() != want {
		t.Fatalf("Load = %v\nwant %s", err, want)
	}
}
