package sarif

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/podguard/podguard/test/harness"
)

// schemaPath is where `make sarif-schema` puts the OASIS SARIF 2.1.0 schema, taken from
// the npm registry (it is not committed here).
func schemaPath(t *testing.T) string {
	if p := os.Getenv("PODGUARD_SARIF_SCHEMA"); p != "" {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(cache, "podguard", "sarif-2.1.0-rtm.5.json")
}

// compileSchema loads the SARIF 2.1.0 schema.
func compileSchema(t *testing.T) *jsonschema.Schema {
	f, err := os.Open(schemaPath(t))
	if err != nil {
		t.Fatalf("SARIF schema missing (run `make sarif-schema`): %v", err)
	}
	defer f.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("sarif.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("sarif.json")
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// validSARIF runs eval -o sarif with args, checks its exit code, validates the log
// against the schema and returns it.
func validSARIF(t *testing.T, wantCode int, args ...string) []byte {
	schema := compileSchema(t)
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"eval", "-o", "sarif"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != wantCode {
		t.Fatalf("eval %v: exit %d (%v), want %d", args, code, err, wantCode)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("SARIF output does not validate: %v", err)
	}
	return out.Bytes()
}

func TestSARIFValidatesAgainstSchema(t *testing.T) {
	out := validSARIF(t, 1, "-f", "../fixtures/eval/multi.yaml", "-f", "../fixtures/eval/limitrange.yaml")
	// The log must also carry what code scanning shows: results on manifest lines.
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string
				Level     string
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range log.Runs[0].Results {
		loc := r.Locations[0].PhysicalLocation
		if r.RuleID == "image-tag" && r.Level == "error" && loc.ArtifactLocation.URI == "../fixtures/eval/multi.yaml" && loc.Region.StartLine == 32 {
			found = true
		}
	}
	if !found {
		t.Errorf("no error result for image-tag at multi.yaml:32 in %s", out)
	}
}

// sarifLog is the part of a SARIF log the tests read.
type sarifLog struct {
	Runs []struct {
		Invocations []struct{ ExecutionSuccessful bool }
		Results     []struct {
			RuleID, Level string
			Message       struct{ Text string }
			Locations     []struct {
				PhysicalLocation struct {
					ArtifactLocation struct{ URI string }
					Region           struct{ StartLine int }
				}
			}
		}
	}
}

// hasResult reports whether the log holds a result of rule at uri:line with level and
// the message text.
func (l sarifLog) hasResult(rule, level, uri string, line int, text string) bool {
	for _, r := range l.Runs[0].Results {
		loc := r.Locations[0].PhysicalLocation
		if r.RuleID == rule && r.Level == level && loc.ArtifactLocation.URI == uri && loc.Region.StartLine == line && r.Message.Text == text {
			return true
		}
	}
	return false
}

func parseLog(t *testing.T, out []byte) sarifLog {
	var log sarifLog
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	if len(log.Runs) != 1 || len(log.Runs[0].Invocations) != 1 {
		t.Fatalf("want one run with one invocation: %s", out)
	}
	return log
}

// TestSARIFUnreadableInput: documents eval cannot read fail the run in SARIF too, as
// error results on their lines, and the log still validates.
func TestSARIFUnreadableInput(t *testing.T) {
	out := validSARIF(t, 2, "../fixtures/eval/repo") // a template outside any chart, in vendor/
	log := parseLog(t, out)
	if log.Runs[0].Invocations[0].ExecutionSuccessful {
		t.Errorf("invocation succeeded, want failed: input was not read")
	}
	if !log.hasResult("podguard-input", "error", "../fixtures/eval/repo/vendor/upstream/template.yaml", 4,
		"looks like a template ({{ ... }}): render it first, e.g. with helm template") {
		t.Errorf("no error result for the template at template.yaml:4 in %s", out)
	}
}

// TestSARIFUnrendered: a chart that cannot be rendered is a note, and the run, which judged
// everything else, succeeded; under --strict it is a warning and the run exits 2.
func TestSARIFUnrendered(t *testing.T) {
	const reason = "helm template ../fixtures/eval/repo/helm/billing: dependency postgresql named in Chart.yaml is not vendored in charts/ (helm dependency build fetches it; podguard eval fetches nothing)"
	for _, tc := range []struct {
		name   string
		strict bool
		code   int
		level  string
	}{{"default", false, 1, "note"}, {"--strict", true, 2, "warning"}} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"../fixtures/eval/repo", "--exclude", "vendor/"}
			if tc.strict {
				args = append(args, "--strict")
			}
			out := validSARIF(t, tc.code, args...)
			log := parseLog(t, out)
			if !log.Runs[0].Invocations[0].ExecutionSuccessful {
				t.Errorf("invocation failed, want succeeded: everything asked for was read")
			}
			if !log.hasResult("podguard-input", tc.level, "../fixtures/eval/repo/helm/billing/Chart.yaml", 1, reason) {
				t.Errorf("no %s for the unrendered chart in %s", tc.level, out)
			}
			if !log.hasResult("image-tag", "error", "../fixtures/eval/repo/helm/shop/charts/cache/templates/statefulset.yaml", 1,
				`[image-tag] container "redis": image "redis:latest" uses the disallowed tag "latest" (spec.template.spec.containers[0].image). Fix: use a version tag or a digest instead of "latest", e.g. "redis:<version>" [helm template ../fixtures/eval/repo/helm/shop]`) {
				t.Errorf("no error for the rendered subchart's StatefulSet in %s", out)
			}
		})
	}
}
