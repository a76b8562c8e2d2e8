package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the files kube-apiserver is started with and the PEM the test
// client needs.
type pki struct {
	caCertPEM         []byte
	clientCertPEM     []byte
	clientKeyPEM      []byte
	caFile            string // trusted for client certificates
	servingCertFile   string
	servingKeyFile    string
	serviceAccountKey string // private key, signs service account tokens
	serviceAccountPub string
	// The admin's certificate as files too: the API server uses it to call
	// kubelets, as a member of system:masters.
	clientCertFile string
	clientKeyFile  string
	// The CA itself, to sign the certificates of a node's kubelet.
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

// adminUser is the identity of the test client; system:masters bypasses
// RBAC, so it can set up whatever a test needs.
const adminUser = "podguard-test-admin"

// writePKI makes a throw-away CA that both signs the serving certificate
// (so the client verifies the server instead of skipping TLS checks) and is
// the --client-ca-file (client certificates are the authentication that
// every kube-apiserver version keeps). serviceIP, the "kubernetes" Service's
// address, is in the serving certificate so Pods on a node can verify the
// server they reach there.
func writePKI(dir string, serviceIP net.IP) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "podguard-test-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := signCert(caTmpl, caKey, nil, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	p := &pki{
		caCertPEM:         pemBlock("CERTIFICATE", caDER),
		caFile:            filepath.Join(dir, "ca.crt"),
		servingCertFile:   filepath.Join(dir, "apiserver.crt"),
		servingKeyFile:    filepath.Join(dir, "apiserver.key"),
		serviceAccountKey: filepath.Join(dir, "sa.key"),
		serviceAccountPub: filepath.Join(dir, "sa.pub"),
		clientCertFile:    filepath.Join(dir, "admin.crt"),
		clientKeyFile:     filepath.Join(dir, "admin.key"),
		caCert:            caCert,
		caKey:             caKey,
	}

	servingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	servingDER, err := signCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, serviceIP},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, servingKey, caCert, caKey)
	if err != nil {
		return nil, err
	}

	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	clientDER, err := signCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: adminUser, Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, clientKey, caCert, caKey)
	if err != nil {
		return nil, err
	}
	p.clientCertPEM = pemBlock("CERTIFICATE", clientDER)
	if p.clientKeyPEM, err = keyPEM(clientKey); err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}

	servingKeyPEM, err := keyPEM(servingKey)
	if err != nil {
		return nil, err
	}
	saKeyPEM, err := keyPEM(saKey)
	if err != nil {
		return nil, err
	}
	for file, data := range map[string][]byte{
		p.caFile:            p.caCertPEM,
		p.servingCertFile:   pemBlock("CERTIFICATE", servingDER),
		p.servingKeyFile:    servingKeyPEM,
		p.serviceAccountKey: saKeyPEM,
		p.serviceAccountPub: pemBlock("PUBLIC KEY", saPub),
		p.clientCertFile:    p.clientCertPEM,
		p.clientKeyFile:     p.clientKeyPEM,
	} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// signCert signs tmpl with parentKey; a nil parent means self-signed.
func signCert(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	// Backdated so a clock that is a little off does not fail the handshake.
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent = tmpl
	}
	return x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// clientCert signs a client certificate for user in groups with the CA and
// returns the PEM of the certificate and of its key.
func (p *pki) clientCert(user string, groups ...string) (certPEM, privPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := signCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, key, p.caCert, p.caKey)
	if err != nil {
		return nil, nil, err
	}
	if privPEM, err = keyPEM(key); err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), privPEM, nil
}
