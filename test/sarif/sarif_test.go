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

// TestSARIFUnreadableInput: documents eval cannot read fail the run in SARIF too, as
// error results on their lines, and the log still validates.
func TestSARIFUnreadableInput(t *testing.T) {
	out := validSARIF(t, 2, "-f", "../fixtures/eval/tree") // Helm templates in the tree
	var log struct {
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
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Invocations) != 1 || run.Invocations[0].ExecutionSuccessful {
		t.Errorf("invocations %+v, want one that did not succeed", run.Invocations)
	}
	found := false
	for _, r := range run.Results {
		loc := r.Locations[0].PhysicalLocation
		if r.RuleID == "podguard-input" && r.Level == "error" && loc.ArtifactLocation.URI == "../fixtures/eval/tree/chart/templates/deployment.yaml" &&
			loc.Region.StartLine == 5 && r.Message.Text == "a Helm template: render it first with helm template ../fixtures/eval/tree/chart" {
			found = true
		}
	}
	if !found {
		t.Errorf("no error result for the Helm template at deployment.yaml:5 in %s", out)
	}
}
