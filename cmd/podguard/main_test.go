package main

import (
	"bytes"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestCommandLine(t *testing.T) {
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantOut    string // substring of stdout
		wantStderr string // substring of stderr
	}{
		"no command: usage on stderr":          {args: nil, wantCode: 2, wantStderr: usage},
		"--help":                               {args: []string{"--help"}, wantCode: 0, wantOut: usage},
		"-h":                                   {args: []string{"-h"}, wantCode: 0, wantOut: usage},
		"help":                                 {args: []string{"help"}, wantCode: 0, wantOut: usage},
		"help eval is eval --help":             {args: []string{"help", "eval"}, wantCode: 0, wantOut: "usage: podguard eval"},
		"an unknown command is named":          {args: []string{"foo"}, wantCode: 2, wantStderr: "podguard: unknown command \"foo\"\n\n" + usage},
		"help for an unknown command names it": {args: []string{"help", "foo"}, wantCode: 2, wantStderr: "podguard: unknown command \"foo\""},
		"eval --help":                          {args: []string{"eval", "--help"}, wantCode: 0, wantOut: "usage: podguard eval"},
		"eval -h":                              {args: []string{"eval", "-h"}, wantCode: 0, wantOut: "usage: podguard eval"},
		"audit --help":                         {args: []string{"audit", "--help"}, wantCode: 0, wantOut: "usage: podguard audit"},
		"audit -h":                             {args: []string{"audit", "-h"}, wantCode: 0, wantOut: "usage: podguard audit"},
		// serve prints its flags itself, on the process's stderr.
		"serve --help": {args: []string{"serve", "--help"}, wantCode: 0},
		"serve -h":     {args: []string{"serve", "-h"}, wantCode: 0},
		"version":      {args: []string{"version"}, wantCode: 0, wantOut: "podguard dev\n"},
		"--version":    {args: []string{"--version"}, wantCode: 0, wantOut: "podguard dev\n"},
		"eval: a bad flag value is named": {
			args: []string{"eval", "-f", "x.yaml", "-o", "yaml"}, wantCode: 2, wantStderr: "podguard eval: -o \"yaml\": use text, json, junit, sarif, github or report\n",
		},
		"audit: a bad flag value is named": {
			args: []string{"audit", "-o", "yaml"}, wantCode: 2, wantStderr: "podguard audit: -o \"yaml\": use table, json or report\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(t.Context(), tc.args, strings.NewReader(""), &out, &errOut); code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.wantCode, errOut.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q lacks %q", out.String(), tc.wantOut)
			}
			if !strings.Contains(errOut.String(), tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tc.wantStderr)
			}
		})
	}
}

// TestVersionOfThisBinary: the OPA version printed is the one go.mod requires.
func TestVersionOfThisBinary(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+github\.com/open-policy-agent/opa (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod requires no OPA")
	}
	if got := versionText("1.2.3"); !strings.HasPrefix(got, "podguard 1.2.3\n") || !strings.Contains(got, "\nopa:      "+string(m[1])+"\n") {
		t.Errorf("version text:\n%s\nwant podguard 1.2.3 and opa %s", got, m[1])
	}
}

func TestDescribeBuild(t *testing.T) {
	opa := &debug.Module{Path: "github.com/open-policy-agent/opa", Version: "v1.22.3"}
	tests := map[string]struct {
		version string
		bi      debug.BuildInfo
		want    string
	}{
		"make build: version from the linker, commit from version control": {
			version: "v0.4.0",
			bi: debug.BuildInfo{GoVersion: "go1.26.0", Deps: []*debug.Module{opa}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0e9d542f"}, {Key: "vcs.time", Value: "2026-07-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
			}},
			want: "podguard v0.4.0\ncommit:   0e9d542f (with uncommitted changes), 2026-07-01T10:00:00Z\ngo:       go1.26.0\nopa:      v1.22.3\n",
		},
		"go install: the module version": {
			version: "dev",
			bi:      debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.4.0"}, Deps: []*debug.Module{opa}},
			want:    "podguard v0.4.0\ncommit:   unknown (built without version control information)\ngo:       go1.26.0\nopa:      v1.22.3\n",
		},
		"a replaced OPA says so": {
			version: "dev",
			bi: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
				Deps: []*debug.Module{{Path: opa.Path, Version: "v1.22.3", Replace: &debug.Module{Version: "v1.22.4"}}}},
			want: "podguard dev\ncommit:   unknown (built without version control information)\ngo:       go1.26.0\nopa:      v1.22.4 (replaces v1.22.3)\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := describeBuild(tc.version, &tc.bi); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got:\n%s\nwant it to start with:\n%s", got, tc.want)
			}
		})
	}
}

// TestPreCommitHook runs each hook of .pre-commit-hooks.yaml as pre-commit does: its
// entry with the changed files appended.
func TestPreCommitHook(t *testing.T) {
	b, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID, Name, Entry, Language, Files string
		PassFilenames                    *bool `json:"pass_filenames"`
	}
	if err := yaml.Unmarshal(b, &hooks); err != nil {
		t.Fatal(err)
	}
	if len(hooks) == 0 {
		t.Fatal("no hooks defined")
	}
	for _, h := range hooks {
		t.Run(h.ID, func(t *testing.T) {
			if h.ID == "" || h.Name == "" || h.Language != "golang" || (h.PassFilenames != nil && !*h.PassFilenames) {
				t.Fatalf("hook %+v: needs id, name, language golang and the file names", h)
			}
			if !regexp.MustCompile(h.Files).MatchString("deploy/web.yaml") {
				t.Errorf("files %q does not match a manifest", h.Files)
			}
			entry := strings.Fields(h.Entry)
			if len(entry) < 2 || entry[0] != "podguard" {
				t.Fatalf("entry %q does not run the podguard that go install builds", h.Entry)
			}
			for file, wantCode := range map[string]int{"compliant.yaml": 0, "multi.yaml": 1, "tree/app/base/kustomization.yaml": 0} {
				var out, errOut bytes.Buffer
				if code := run(t.Context(), append(entry[1:], fixtures+file), nil, &out, &errOut); code != wantCode {
					t.Errorf("%s on %s: exit %d, want %d\n%s%s", h.Entry, file, code, wantCode, out.String(), errOut.String())
				}
			}
		})
	}
}
