package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestEvalExceptions: eval honours an exception of the configuration in force, showing
// the violation it covers as excepted with its reason; an expired one no longer applies,
// and eval says so on stderr.
func TestEvalExceptions(t *testing.T) {
	const dir = fixtures + "exceptions/"
	tests := map[string]struct {
		config     string
		wantCode   int
		golden     string
		wantStderr string
	}{
		"an exception in force admits the Deployment, its violation shown as excepted": {
			config: "in-force.config.yaml", wantCode: 0, golden: "in-force.golden.txt",
		},
		"an expired exception no longer applies, and eval warns about it": {
			config: "expired.config.yaml", wantCode: 1, golden: "expired.golden.txt",
			wantStderr: "podguard eval: warning: exceptions[0] (rules [readiness-probe], namespace shop, name web) expired at 2020-01-01T00:00:00Z and no longer applies: static page; readiness probe lands with SHOP-12\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := evalCommand(t.Context(), "test", []string{"-f", dir + "web.yaml", "--config", dir + tc.config}, strings.NewReader(""), &out, &errOut)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.wantCode, errOut.String())
			}
			checkGolden(t, dir+tc.golden, out.Bytes())
			if errOut.String() != tc.wantStderr {
				t.Errorf("stderr %q, want %q", errOut.String(), tc.wantStderr)
			}
		})
	}
}
