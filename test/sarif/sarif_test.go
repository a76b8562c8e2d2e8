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

func TestSARIFValidatesAgainstSchema(t *testing.T) {
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
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "eval", "-o", "sarif", "-f", "../fixtures/eval/multi.yaml", "-f", "../fixtures/eval/limitrange.yaml")
	var out bytes.Buffer
	cmd.Stdout = &out
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("eval exit %v, want 1 (a refused manifest)", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("SARIF output does not validate: %v", err)
	}
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
	if err := json.Unmarshal(out.Bytes(), &log); err != nil {
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
		t.Errorf("no error result for image-tag at multi.yaml:32 in %s", out.String())
	}
}
