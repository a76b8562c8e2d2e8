package engine_test

import (
	"strings"
	"testing"

	"github.com/podguard/podguard/policies/engine"
)

// The policy directories live outside policies/ so that opa check and opa test do not read
// their mistakes as podguard's own.
const lintFixtures = "../../test/fixtures/eval/policies/"

func TestLint(t *testing.T) {
	tests := map[string]struct {
		dir  string
		want []string
	}{
		"a package outside pod.rules that nothing uses": {
			dir: "wrong-package",
			want: []string{
				"no_privileged.rego:1: package podrules.no_privileged is never run: podguard runs the violation rules of packages pod.rules.<id> (one level under pod.rules), and no other Rego uses this package",
			},
		},
		"conftest-style deny and warn instead of violation": {
			dir: "conftest-deny",
			want: []string{
				"no_privileged.rego:1: package pod.rules.no_privileged defines no violation rule, so rule no-privileged never reports anything",
				"no_privileged.rego:3: rule deny is never read: podguard reads only violation (violation contains v if {...}, v an object with msg, field, container and fix); whether a violation denies or warns comes from the configuration",
				"no_privileged.rego:9: rule warn is never read: podguard reads only violation (violation contains v if {...}, v an object with msg, field, container and fix); whether a violation denies or warns comes from the configuration",
			},
		},
		"settings looked up under a package name instead of the rule id": {
			dir: "config-underscore",
			want: []string{
				`no_privileged.rego:5: lib.rule_config("no_privileged") looks up the settings of "no_privileged", which is no rule of this policy set, so it always gets none: rule ids are spelled with -, did you mean "no-privileged"?`,
				`no_privileged.rego:7: data.pod.config.rules.image_tag looks up the settings of "image_tag", which is no rule of this policy set, so it always gets none: rule ids are spelled with -, did you mean "image-tag"?`,
			},
		},
		"a METADATA id that is not the package's": {
			dir: "metadata-id",
			want: []string{
				`no_privileged.rego:1: METADATA custom.id "no-priv" does not match the package: package pod.rules.no_privileged is rule "no-privileged" (podguard names a rule after its package, in messages and in the configuration)`,
			},
		},
		"glob.match with [] as delimiters": {
			dir: "glob-delimiters",
			want: []string{
				`trusted_images.rego:17: glob.match with [] as delimiters splits at ".": "*" does not cross a dot, so "busybox:*" does not match "busybox:1.36"; pass null to let "*" match any characters, as podguard's own settings (exemptImages, namespace globs) do`,
			},
		},
		"a library package that a rule imports is not a mistake": {dir: "library"},
		"the worked example in policies/examples":                {dir: "../../../../policies/examples"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := lintFixtures + tc.dir
			warnings, err := engine.Lint(engine.Options{PolicyDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range warnings {
				got = append(got, strings.TrimPrefix(w.String(), dir+"/"))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestLintFindsNothingWithoutPolicyDir: the built-in policies are podguard's own; only a
// policy directory is looked at.
func TestLintFindsNothingWithoutPolicyDir(t *testing.T) {
	warnings, err := engine.Lint(engine.Options{})
	if err != nil || len(warnings) != 0 {
		t.Errorf("Lint without a policy dir: %v, %v", warnings, err)
	}
}

// TestLintedSetsLoad: each mistake compiles, so without the warnings nothing would say
// that the rule does nothing.
func TestLintedSetsLoad(t *testing.T) {
	for _, dir := range []string{"wrong-package", "conftest-deny", "config-underscore", "metadata-id", "glob-delimiters", "library"} {
		if _, err := engine.Load(t.Context(), engine.Options{PolicyDir: lintFixtures + dir}); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
}
