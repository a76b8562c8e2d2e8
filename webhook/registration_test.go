package webhook

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// TestRegistrationVerifies: failurePolicy Fail is set only for a webhook whose caBundle
// verifies the served certificate for the name the API server calls.
func TestRegistrationVerifies(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	certPEM, keyPEM := ca.servingPair(t, 2, time.Now().Add(time.Hour))
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	r := &registration{serving: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil }}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
	otherPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.cert.Raw})
	service := func(name, ns string) *admissionregistrationv1.ServiceReference {
		return &admissionregistrationv1.ServiceReference{Name: name, Namespace: ns}
	}
	url := "https://localhost:9443/validate"
	tests := map[string]struct {
		cc      admissionregistrationv1.WebhookClientConfig
		wantErr string
	}{
		"the Service's name, signed by the bundle":  {cc: admissionregistrationv1.WebhookClientConfig{Service: service("podguard", "podguard"), CABundle: caPEM}},
		"a URL, signed by the bundle":               {cc: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM}},
		"both CAs in the bundle, during a rotation": {cc: admissionregistrationv1.WebhookClientConfig{Service: service("podguard", "podguard"), CABundle: append(append([]byte{}, otherPEM...), caPEM...)}},
		"no caBundle yet (cainjector not run)": {
			cc: admissionregistrationv1.WebhookClientConfig{Service: service("podguard", "podguard")}, wantErr: "no caBundle yet",
		},
		"a bundle of another CA": {
			cc:      admissionregistrationv1.WebhookClientConfig{Service: service("podguard", "podguard"), CABundle: otherPEM},
			wantErr: "caBundle does not verify the serving certificate for podguard.podguard.svc",
		},
		"another Service name": {
			cc:      admissionregistrationv1.WebhookClientConfig{Service: service("pg", "podguard"), CABundle: caPEM},
			wantErr: "caBundle does not verify the serving certificate for pg.podguard.svc",
		},
		"a bundle that is not PEM": {
			cc:      admissionregistrationv1.WebhookClientConfig{Service: service("podguard", "podguard"), CABundle: []byte("not a certificate")},
			wantErr: "caBundle holds no PEM certificate",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := r.verifies(tc.cc)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("verifies: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("verifies: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestWithPrefilter: podguard's generated conditions are replaced in one update, after the
// operator's, which are kept as they are.
func TestWithPrefilter(t *testing.T) {
	op := admissionregistrationv1.MatchCondition{Name: "not-ci", Expression: `request.userInfo.username != "ci"`}
	oldOwn := admissionregistrationv1.MatchCondition{Name: "podguard-may-find-violations", Expression: "true"}
	newOwn := admissionregistrationv1.MatchCondition{Name: "podguard-may-find-violations", Expression: "!(object.kind == 'Pod')"}
	many := make([]admissionregistrationv1.MatchCondition, 64)
	for i := range many {
		many[i] = admissionregistrationv1.MatchCondition{Name: fmt.Sprintf("c%d", i), Expression: "true"}
	}
	tests := map[string]struct {
		current, own []admissionregistrationv1.MatchCondition
		want         []admissionregistrationv1.MatchCondition
		changed      bool
		wantErr      string
	}{
		"written after the operator's": {current: []admissionregistrationv1.MatchCondition{op}, own: []admissionregistrationv1.MatchCondition{newOwn},
			want: []admissionregistrationv1.MatchCondition{op, newOwn}, changed: true},
		"a stale one replaced": {current: []admissionregistrationv1.MatchCondition{oldOwn, op}, own: []admissionregistrationv1.MatchCondition{newOwn},
			want: []admissionregistrationv1.MatchCondition{op, newOwn}, changed: true},
		"already in place": {current: []admissionregistrationv1.MatchCondition{op, newOwn}, own: []admissionregistrationv1.MatchCondition{newOwn},
			want: []admissionregistrationv1.MatchCondition{op, newOwn}},
		"removed when the set has none": {current: []admissionregistrationv1.MatchCondition{op, oldOwn},
			want: []admissionregistrationv1.MatchCondition{op}, changed: true},
		"nothing of podguard's, nothing to write": {current: []admissionregistrationv1.MatchCondition{op},
			want: []admissionregistrationv1.MatchCondition{op}},
		"over the API server's 64": {current: many, own: []admissionregistrationv1.MatchCondition{newOwn},
			wantErr: "65 matchConditions, more than the 64 the API server accepts per webhook"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, changed, err := withPrefilter(tc.current, tc.own)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || changed != tc.changed || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v changed %v (error %v), want %+v changed %v", got, changed, err, tc.want, tc.changed)
			}
		})
	}
}
