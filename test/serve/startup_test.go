package serve

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podguard/podguard/test/harness"
)

// run runs `podguard serve args...` to its end and returns its exit code, stdout and
// stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"serve"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code, err := harness.ExitCode(cmd.Run())
	if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// TestStartupUserErrors: a mistake on the command line is one line on stderr naming it,
// exit status 2, no log line and no stack trace.
func TestStartupUserErrors(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if _, err := harness.WriteServingCert(certs); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		args []string
		want string
	}{
		"no flags":          {nil, "podguard serve: --cert-dir is required\n"},
		"a flag not known":  {[]string{"--cert-dirs", certs}, "podguard serve: flag provided but not defined: -cert-dirs (podguard serve --help lists the flags)\n"},
		"a value not valid": {[]string{"--cert-dir", certs, "--port", "web"}, "podguard serve: invalid value \"web\" for flag -port: parse error (podguard serve --help lists the flags)\n"},
		"an argument":       {[]string{"--cert-dir", certs, "config.yaml"}, "podguard serve: unexpected argument \"config.yaml\" (podguard serve --help lists the flags)\n"},
		"a config file that does not exist": {[]string{"--cert-dir", certs, "--config", filepath.Join(dir, "config.yaml")},
			"podguard serve: --config: " + filepath.Join(dir, "config.yaml") + " does not exist\n"},
		"a policy dir that does not exist": {[]string{"--cert-dir", certs, "--policy-dir", filepath.Join(dir, "policies")},
			"podguard serve: --policy-dir: " + filepath.Join(dir, "policies") + " does not exist\n"},
		"a cert dir without a certificate": {[]string{"--cert-dir", dir},
			"podguard serve: --cert-dir: " + filepath.Join(dir, "tls.crt") + " does not exist\n"},
		"an eval timeout of zero": {[]string{"--cert-dir", certs, "--eval-timeout", "0s"}, "podguard serve: --eval-timeout must be positive\n"},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			code, stdout, stderr := run(t, c.args...)
			if code != 2 || stdout != "" || stderr != c.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and stderr %q", code, stdout, stderr, c.want)
			}
		})
	}
}

// startupLine is the log line podguard writes once it serves.
type startupLine struct {
	Level, Msg                                string
	TS                                        any
	Version, Commit, Revision                 string
	Webhook, Metrics, Health                  string
	MaxConnections, MaxEvaluations            int
	MemoryLimit, EvaluationMemory, BodyMemory string
}

// TestStartupLogging: by default podguard logs JSON lines with RFC 3339 times, the
// first of them once it serves naming its version, the policy revision and every address
// it serves; controller-runtime's logging flags are honoured (--zap-encoder=console
// writes plain text, --zap-time-encoding=epoch numbers).
func TestStartupLogging(t *testing.T) {
	serveLog := func(t *testing.T, args ...string) (*harness.Podguard, string) {
		t.Helper()
		pg, err := harness.Start(t.Context(), harness.Options{Dir: t.TempDir(), Args: args})
		if err != nil {
			t.Fatal(err)
		}
		pg.Stop()
		b, err := os.ReadFile(pg.Log)
		if err != nil {
			t.Fatal(err)
		}
		return pg, string(b)
	}
	t.Run("JSON by default", func(t *testing.T) {
		pg, log := serveLog(t)
		var line *startupLine
		for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
			var s startupLine
			if err := json.Unmarshal([]byte(l), &s); err != nil {
				t.Fatalf("log line is not JSON: %v\n%s", err, l)
			}
			ts, ok := s.TS.(string)
			if _, err := time.Parse(time.RFC3339, ts); !ok || err != nil {
				t.Errorf("ts %v is not an RFC 3339 time", s.TS)
			}
			if s.Msg == "podguard serving" {
				line = &s
			}
		}
		if line == nil {
			t.Fatalf("no \"podguard serving\" line in\n%s", log)
		}
		if line.Version == "" || line.Commit == "" || len(line.Revision) != 12 {
			t.Errorf("version %q, commit %q, revision %q: want all three", line.Version, line.Commit, line.Revision)
		}
		for got, want := range map[string]string{line.Webhook: pg.URL, line.Metrics: pg.MetricsURL, line.Health: pg.HealthURL} {
			if got != want {
				t.Errorf("address %q logged, want %q", got, want)
			}
		}
		if line.MaxConnections != 1024 || line.MaxEvaluations < 2 || line.EvaluationMemory != "192.0 MiB" || line.BodyMemory != "64.0 MiB" ||
			line.MemoryLimit != "512.0 MiB (assumed: GOMEMLIMIT is not set)" {
			t.Errorf("limits logged: %+v", *line)
		}
	})
	t.Run("--zap-encoder=console writes plain text", func(t *testing.T) {
		_, log := serveLog(t, "--zap-encoder=console")
		var serving string
		for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
			if strings.HasPrefix(l, "{") {
				t.Errorf("a JSON line with --zap-encoder=console: %s", l)
			}
			if strings.Contains(l, "podguard serving") {
				serving = l
			}
		}
		if !strings.Contains(serving, "\tINFO\t") || !strings.Contains(serving, `"webhook": "https://`) {
			t.Errorf("start-up line %q, want a console line with the addresses", serving)
		}
	})
	t.Run("--zap-time-encoding=epoch writes numbers", func(t *testing.T) {
		_, log := serveLog(t, "--zap-time-encoding=epoch")
		first, _, _ := strings.Cut(log, "\n")
		var s startupLine
		if err := json.Unmarshal([]byte(first), &s); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.TS.(float64); !ok {
			t.Errorf("ts %v (%T), want a number", s.TS, s.TS)
		}
	})
}

// TestErrorLinesWithoutStackTraces: a review podguard cannot judge is logged as one line,
// without the stack trace controller-runtime's logger adds to errors by default (an
// error answered is not a fault in podguard); --zap-stacktrace-level=error adds it back.
func TestErrorLinesWithoutStackTraces(t *testing.T) {
	failedLine := func(t *testing.T, args ...string) map[string]any {
		t.Helper()
		pg, err := harness.Start(t.Context(), harness.Options{Dir: t.TempDir(), Args: args})
		if err != nil {
			t.Fatal(err)
		}
		review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",` +
			`"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},` +
			`"namespace":"default","operation":"CREATE","userInfo":{"username":"alice"},"object":null}}`
		resp, err := pg.Client().Post(pg.URL+"/validate", "application/json", strings.NewReader(review))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		pg.Stop()
		b, err := os.ReadFile(pg.Log)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var line map[string]any
			if json.Unmarshal([]byte(l), &line) == nil && line["msg"] == "request failed" {
				return line
			}
		}
		t.Fatalf("no \"request failed\" line in\n%s", b)
		return nil
	}
	if line := failedLine(t); line["stacktrace"] != nil || line["error"] == nil {
		t.Errorf("by default, want the error and no stack trace: %v", line)
	}
	if line := failedLine(t, "--zap-stacktrace-level=error"); line["stacktrace"] == nil {
		t.Errorf("with --zap-stacktrace-level=error, want a stack trace: %v", line)
	}
}
