package webhook

import (
	"crypto/tls"
	"encoding/pem"
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
