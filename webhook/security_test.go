package webhook

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeRSAServing replaces the serving certificate in dir with one on an RSA key, as
// cert-manager issues by default.
func (ca *testCA) writeRSAServing(t *testing.T, dir string, serial int64) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "podguard.podguard.svc"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// clientCert issues a client certificate with the given extended key usages.
func (ca *testCA) clientCert(t *testing.T, usages ...x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	return ca.issueClient(t, time.Now().Add(24*time.Hour), usages)
}

func (ca *testCA) expiredClientCert(t *testing.T) tls.Certificate {
	t.Helper()
	return ca.issueClient(t, time.Now().Add(-time.Minute), []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
}

func (ca *testCA) issueClient(t *testing.T, notAfter time.Time, usages []x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// handshake connects to the server with cfg (trusting its CA) and returns the
// negotiated version and suite.
func (s *testServer) handshake(t *testing.T, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	cfg.RootCAs = s.ca.pool
	cfg.ServerName = "localhost"
	d := &tls.Dialer{Config: cfg}
	c, err := d.DialContext(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(s.port))
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

// TestTLSVersionsAndSuites: TLS 1.0 and 1.1 are refused, and so is every TLS 1.2 suite
// without forward secrecy or authenticated encryption, for ECDSA and RSA serving keys.
func TestTLSVersionsAndSuites(t *testing.T) {
	ecdsaServer := startServer(t, t.Context(), Options{})
	rsaServer := startServer(t, t.Context(), Options{})
	rsaServer.ca.writeRSAServing(t, rsaServer.certDir, 3)
	waitUntil(t, 10*time.Second, "the RSA certificate served", func() bool {
		st, err := rsaServer.handshake(t, &tls.Config{})
		return err == nil && st.PeerCertificates[0].PublicKeyAlgorithm == x509.RSA
	})
	servers := map[string]*testServer{"ecdsa": ecdsaServer, "rsa": rsaServer}

	const refused = "remote error: tls: handshake failure"
	const oldVersion = "remote error: tls: protocol version not supported"
	tls12 := func(suite uint16) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}}
	}
	cases := map[string]struct {
		server  string
		cfg     *tls.Config
		wantErr string // empty: accepted
	}{
		"TLS 1.0 is refused": {"ecdsa", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, oldVersion},
		"TLS 1.1 is refused": {"ecdsa", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, oldVersion},

		"ECDHE-ECDSA AES-128-CBC-SHA is refused":                              {"ecdsa", tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA), refused},
		"ECDHE-ECDSA AES-256-CBC-SHA is refused":                              {"ecdsa", tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA), refused},
		"ECDHE-ECDSA AES-128-CBC-SHA256 is refused":                           {"ecdsa", tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256), refused},
		"ECDHE-ECDSA RC4 is refused":                                          {"ecdsa", tls12(tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA), refused},
		"ECDHE-RSA AES-128-CBC-SHA is refused":                                {"rsa", tls12(tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA), refused},
		"ECDHE-RSA 3DES is refused":                                           {"rsa", tls12(tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA), refused},
		"static RSA key exchange AES-128-GCM is refused (no forward secrecy)": {"rsa", tls12(tls.TLS_RSA_WITH_AES_128_GCM_SHA256), refused},
		"static RSA key exchange AES-128-CBC is refused":                      {"rsa", tls12(tls.TLS_RSA_WITH_AES_128_CBC_SHA), refused},

		"ECDHE-ECDSA AES-128-GCM is accepted":       {"ecdsa", tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), ""},
		"ECDHE-ECDSA AES-256-GCM is accepted":       {"ecdsa", tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384), ""},
		"ECDHE-ECDSA ChaCha20-Poly1305 is accepted": {"ecdsa", tls12(tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256), ""},
		"ECDHE-RSA AES-128-GCM is accepted":         {"rsa", tls12(tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), ""},
		"ECDHE-RSA AES-256-GCM is accepted":         {"rsa", tls12(tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384), ""},
		"ECDHE-RSA ChaCha20-Poly1305 is accepted":   {"rsa", tls12(tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256), ""},
		"TLS 1.3 is accepted":                       {"ecdsa", &tls.Config{MinVersion: tls.VersionTLS13}, ""},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			want := c.cfg.CipherSuites
			st, err := servers[c.server].handshake(t, c.cfg)
			if c.wantErr != "" {
				if err == nil {
					t.Fatalf("handshake succeeded with %s", tls.CipherSuiteName(st.CipherSuite))
				}
				if err.Error() != c.wantErr {
					t.Errorf("handshake error %q, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if len(want) == 1 && st.CipherSuite != want[0] {
				t.Errorf("negotiated %s, want %s", tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(want[0]))
			}
		})
	}

	// The refusals above come from podguard's configuration: Go's default server would
	// accept the CBC suites.
	t.Run("Go's default TLS configuration accepts ECDHE-ECDSA AES-128-CBC-SHA", func(t *testing.T) {
		cert, err := tls.LoadX509KeyPair(filepath.Join(ecdsaServer.certDir, "tls.crt"), filepath.Join(ecdsaServer.certDir, "tls.key"))
		if err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		go func() { _ = tls.Server(a, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake() }()
		cfg := tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)
		cfg.RootCAs, cfg.ServerName = ecdsaServer.ca.pool, "localhost"
		if err := tls.Client(b, cfg).Handshake(); err != nil {
			t.Errorf("handshake with Go's defaults: %v", err)
		}
	})
}

// TestHTTP2Refused: HTTP/2 is not spoken, whichever way a client tries it.
func TestHTTP2Refused(t *testing.T) {
	s := startServer(t, t.Context(), Options{})
	t.Run("ALPN offering only h2 is refused", func(t *testing.T) {
		_, err := s.handshake(t, &tls.Config{NextProtos: []string{"h2"}})
		if err == nil || err.Error() != "remote error: tls: no application protocol" {
			t.Errorf("handshake error %v, want the no_application_protocol alert", err)
		}
	})
	t.Run("ALPN offering h2 and http/1.1 gets http/1.1", func(t *testing.T) {
		st, err := s.handshake(t, &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if st.NegotiatedProtocol != "http/1.1" {
			t.Errorf("negotiated %q, want http/1.1", st.NegotiatedProtocol)
		}
	})
	t.Run("HTTP/2 connection preface without ALPN is answered in HTTP/1.1 and closed", func(t *testing.T) {
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port), &tls.Config{RootCAs: s.ca.pool, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		// The preface reads as an HTTP/1.1 request for "*", which the mux refuses.
		if resp.Proto != "HTTP/1.1" || resp.StatusCode != http.StatusBadRequest || !resp.Close || len(body) != 0 {
			t.Errorf("answer %s %d (close %v) %q, want HTTP/1.1 400 with no body, closing the connection", resp.Proto, resp.StatusCode, resp.Close, body)
		}
	})
}

// TestClientCertificates: with --client-ca, only callers with a client certificate from
// that CA get an answer.
func TestClientCertificates(t *testing.T) {
	clientCA := newTestCA(t)
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, clientCA.pem(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.Context(), Options{ClientCAFile: caFile})
	review := string(readRequest(t, "pod-create-compliant"))

	cases := map[string]struct {
		certs   []tls.Certificate
		version uint16
		wantErr string // empty: the review is answered
	}{
		"no client certificate, TLS 1.3": {nil, tls.VersionTLS13, "remote error: tls: certificate required"},
		"no client certificate, TLS 1.2": {nil, tls.VersionTLS12, "remote error: tls: handshake failure"},
		"expired certificate from the client CA": {
			[]tls.Certificate{clientCA.expiredClientCert(t)}, tls.VersionTLS13,
			"remote error: tls: expired certificate",
		},
		"certificate from another CA": {
			[]tls.Certificate{newTestCA(t).clientCert(t, x509.ExtKeyUsageClientAuth)}, tls.VersionTLS13,
			"remote error: tls: unknown certificate authority",
		},
		"certificate from the client CA for server auth only": {
			[]tls.Certificate{clientCA.clientCert(t, x509.ExtKeyUsageServerAuth)}, tls.VersionTLS13,
			"remote error: tls: bad certificate",
		},
		"certificate from the client CA for client auth, TLS 1.3": {
			[]tls.Certificate{clientCA.clientCert(t, x509.ExtKeyUsageClientAuth)}, tls.VersionTLS13, "",
		},
		"certificate from the client CA for client auth, TLS 1.2": {
			[]tls.Certificate{clientCA.clientCert(t, x509.ExtKeyUsageClientAuth)}, tls.VersionTLS12, "",
		},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: s.ca.pool, Certificates: c.certs, MaxVersion: c.version}
			if c.wantErr != "" {
				// The server's alert ends the handshake in TLS 1.2. In TLS 1.3 the client's
				// side of the handshake is over before the server checks its certificate,
				// so the alert is the first thing the client reads. Nothing is written: a
				// request written after the server closed would fail with a broken pipe
				// before the alert is read.
				conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port), cfg)
				if err == nil {
					_, err = conn.Read(make([]byte, 1))
					conn.Close()
				}
				var alert *net.OpError
				if !errors.As(err, &alert) || alert.Error() != c.wantErr {
					t.Errorf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
			resp, err := client.Post(s.url+"/validate", "application/json", strings.NewReader(review))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assertJSON(t, body, `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"00000000-0000-4000-8000-000000000001","allowed":true,"status":{"metadata":{},"code":200}}}`)
		})
	}
}

// TestClientCAFileRefused: a --client-ca that cannot be used stops start-up, rather than
// serving without the client check the operator asked for.
func TestClientCAFileRefused(t *testing.T) {
	dir := t.TempDir()
	newTestCA(t).writeServing(t, dir, 2)
	notPEM := filepath.Join(dir, "not-pem.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.crt")
	cases := map[string]struct {
		file string
		want string
	}{
		"missing file": {missing, "--client-ca: " + missing + " does not exist"},
		"not PEM":      {notPEM, "--client-ca " + notPEM + ": no PEM certificate in the file"},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			err := Run(t.Context(), Options{CertDir: dir, Port: 9443, EvalTimeout: time.Second, ClientCAFile: c.file})
			var usage *OptionError
			if err == nil || err.Error() != c.want || !errors.As(err, &usage) {
				t.Errorf("Run = %v, want the option error %q", err, c.want)
			}
		})
	}
}
