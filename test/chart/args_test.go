package chart

import (
	"slices"
	"testing"
)

// TestReplicaArgs: the container's paths under a mount become the local directory, what
// the harness sets itself and the flags asked to be dropped go, and --cert-dir comes back
// apart.
func TestReplicaArgs(t *testing.T) {
	args := []string{"serve", "--port=9443", "--cert-dir=/certs", "--config=/etc/podguard/config.yaml",
		"--metrics-bind-address=:8080", "--health-probe-bind-address=:8081", "--shutdown-delay=5s",
		"--metrics-secure", "--webhook-configuration=podguard", "--policy-dir=/etc/podguard-policies"}
	mounts := map[string]string{"/certs": "/tmp/x/certs", "/etc/podguard": "/tmp/x/config"}
	for desc, tc := range map[string]struct {
		drop     []string
		want     []string
		wantCert string
	}{
		"nothing dropped": {
			want:     []string{"--config=/tmp/x/config/config.yaml", "--metrics-secure", "--webhook-configuration=podguard", "--policy-dir=/etc/podguard-policies"},
			wantCert: "/tmp/x/certs",
		},
		"--metrics-secure dropped": {
			drop:     []string{"--metrics-secure"},
			want:     []string{"--config=/tmp/x/config/config.yaml", "--webhook-configuration=podguard", "--policy-dir=/etc/podguard-policies"},
			wantCert: "/tmp/x/certs",
		},
	} {
		t.Run(desc, func(t *testing.T) {
			got, cert := ReplicaArgs(args, mounts, tc.drop...)
			if !slices.Equal(got, tc.want) || cert != tc.wantCert {
				t.Errorf("ReplicaArgs = %q, %q; want %q, %q", got, cert, tc.want, tc.wantCert)
			}
		})
	}
}
