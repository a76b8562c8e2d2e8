package main

import (
	"bytes"
	"strings"
	"testing"
)

const kubeconfig = "../../test/fixtures/audit/kubeconfig.yaml"

func TestAuditRestConfigContext(t *testing.T) {
	tests := map[string]struct {
		context  string
		wantHost string
		wantErr  string
	}{
		"the kubeconfig's current context by default": {wantHost: "https://dev.example.com:6443"},
		"--context picks another":                     {context: "staging", wantHost: "https://staging.example.com:6443"},
		"an unknown context is named":                 {context: "prod", wantErr: `context "prod" does not exist`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := auditRestConfig(kubeconfig, tc.context)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case cfg.Host != tc.wantHost:
				t.Errorf("host %s, want %s", cfg.Host, tc.wantHost)
			}
		})
	}
}

func TestAuditFlags(t *testing.T) {
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantOut    string // prefix of stdout
		wantStderr string
	}{
		"--help prints the usage on stdout and exits 0": {args: []string{"--help"}, wantCode: 0, wantOut: auditSynopsis + "\n"},
		"-h too": {args: []string{"-h"}, wantCode: 0, wantOut: auditSynopsis + "\n"},
		"an output format audit does not have is named": {
			args: []string{"-o", "yaml"}, wantCode: 2,
			wantStderr: "podguard audit: -o \"yaml\": use table, json or report\n" + auditSynopsis + "\n",
		},
		"an unknown flag is named": {
			args: []string{"--kube-config", "x"}, wantCode: 2,
			wantStderr: "podguard audit: flag provided but not defined: -kube-config\n" + auditSynopsis + "\n",
		},
		"a stray argument is named": {
			args: []string{"default"}, wantCode: 2,
			wantStderr: "podguard audit: unexpected argument \"default\"\n" + auditSynopsis + "\n",
		},
		"an unknown --context is an error": {
			args: []string{"--kubeconfig", kubeconfig, "--context", "prod"}, wantCode: 2,
			wantStderr: "podguard audit: context \"prod\" does not exist\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := auditCommand(t.Context(), tc.args, &out, &errOut); code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.wantCode, errOut.String())
			}
			if !strings.HasPrefix(out.String(), tc.wantOut) {
				t.Errorf("stdout %q, want it to start with %q", out.String(), tc.wantOut)
			}
			if errOut.String() != tc.wantStderr {
				t.Errorf("stderr %q, want %q", errOut.String(), tc.wantStderr)
			}
		})
	}
}
