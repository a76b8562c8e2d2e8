package policies_test

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/podguard/podguard/policies"
)

// TestLibHelpersDocumented keeps the helper table of README.md complete: every rule of
// package pod.lib that does not start with _ is a helper custom rules may call.
func TestLibHelpersDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(policies.FS, "pod/lib/*.rego")
	if err != nil {
		t.Fatal(err)
	}
	helpers := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.rego") {
			continue
		}
		src, err := policies.FS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ast.ParseModuleWithOpts(path.Base(f), string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range m.Rules {
			name := r.Head.Ref()[0].Value.String()
			if strings.HasPrefix(name, "_") {
				continue
			}
			helpers++
			if !strings.Contains(string(readme), "`lib."+name) {
				t.Errorf("lib.%s (%s) is not in the helper table of policies/README.md", name, f)
			}
		}
	}
	if helpers == 0 {
		t.Fatal("no helpers found in pod/lib")
	}
}
