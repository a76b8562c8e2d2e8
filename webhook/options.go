package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

// Options configures `podguard serve`.
type Options struct {
	// CertDir holds tls.crt and tls.key; they are reloaded when the files change.
	CertDir string
	// Port is the HTTPS port of the webhook endpoints. Defaults to 9443.
	Port int
	// ConfigFile is the configuration file; empty means the embedded defaults.
	ConfigFile string
	// PolicyDir holds custom Rego rules added to the built-in ones.
	PolicyDir string
	// MetricsAddr serves /metrics. Defaults to :8080.
	MetricsAddr string
	// HealthAddr serves /healthz and /readyz. Defaults to :8081.
	HealthAddr string
	// TLSMinVersion is 1.2 or 1.3. Defaults to 1.2.
	TLSMinVersion string
	// EvalTimeout bounds a review from the moment its body is in: the wait for an
	// evaluation slot, decoding and evaluation. It must stay below the webhook's
	// timeoutSeconds so that podguard answers with an error before the API server gives up.
	EvalTimeout time.Duration
	// MaxEvaluations bounds the reviews decoded and evaluated at once (see Gate); the
	// wait for a slot counts into EvalTimeout.
	// Zero means twice the cores the process may use.
	MaxEvaluations int
	// ReloadInterval is how often --config and --policy-dir are checked for changes.
	// Defaults to 2s.
	ReloadInterval time.Duration
	// WatchCluster makes podguard watch LimitRanges, so workload templates are judged
	// with their namespace's defaults, and Namespaces, so overrides can select them by
	// label. It needs a cluster (Kubeconfig, or in-cluster config).
	WatchCluster bool
	// Kubeconfig is the cluster to watch; empty means $KUBECONFIG, in-cluster, ~/.kube/config.
	Kubeconfig string
	// ShutdownDelay keeps serving after SIGTERM while readiness is false, so endpoints
	// stop sending traffic before the listener closes.
	ShutdownDelay time.Duration
	// ClientCAFile, when set, makes the webhook require a client certificate signed by one
	// of the CAs in this PEM file: the certificate the API server presents, set in its
	// AdmissionConfiguration. Read at start-up.
	ClientCAFile string

	// How long a client may take; zero means the default. They have no flags: the
	// defaults fit the API server, which sends a review at once, and tests shorten them.
	//
	// ReadHeaderTimeout bounds reading the request line and headers (default 5s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default 10s).
	ReadTimeout time.Duration
	// IdleTimeout closes a kept-alive connection with no request (default 120s: longer
	// than the API server's 90s, so the client closes first and never sends on a
	// connection the server is closing).
	IdleTimeout time.Duration
}

// AddFlags registers the serve flags with their defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.CertDir, "cert-dir", "", "directory with tls.crt and tls.key (required)")
	fs.IntVar(&o.Port, "port", 9443, "HTTPS port of the webhook")
	fs.StringVar(&o.ConfigFile, "config", "", "configuration file (default: the embedded defaults)")
	fs.StringVar(&o.PolicyDir, "policy-dir", "", "directory of custom Rego rules (package pod.rules.<id>)")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of /metrics")
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&o.TLSMinVersion, "tls-min-version", "1.2", "minimum TLS version: 1.2 or 1.3")
	fs.DurationVar(&o.EvalTimeout, "eval-timeout", 2*time.Second, "deadline of one review once its body is read: the wait for an evaluation slot, decoding and policy evaluation")
	fs.IntVar(&o.MaxEvaluations, "max-evaluations", 0, "reviews decoded and evaluated at once, more wait for a slot within --eval-timeout (default: twice the usable cores)")
	fs.DurationVar(&o.ReloadInterval, "reload-interval", 2*time.Second, "how often to check --config and --policy-dir for changes")
	fs.BoolVar(&o.WatchCluster, "watch-cluster", true, "watch LimitRanges (their defaults apply to workload templates) and Namespaces (their labels select overrides); needs a cluster")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to watch (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 10*time.Second, "time to keep serving after SIGTERM")
	fs.StringVar(&o.ClientCAFile, "client-ca", "", "PEM file of CAs; when set, callers must present a client certificate signed by one of them (mutual TLS)")
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	if o.CertDir == "" {
		return errors.New("--cert-dir is required")
	}
	if o.Port <= 0 || o.Port > 65535 {
		return fmt.Errorf("--port %d is not a TCP port", o.Port)
	}
	if _, err := o.tlsVersion(); err != nil {
		return err
	}
	if o.EvalTimeout <= 0 {
		return errors.New("--eval-timeout must be positive")
	}
	if o.MaxEvaluations < 0 {
		return errors.New("--max-evaluations must not be negative")
	}
	if o.ReloadInterval < 0 {
		return errors.New("--reload-interval must not be negative")
	}
	if o.ShutdownDelay < 0 {
		return errors.New("--shutdown-delay must not be negative")
	}
	if o.ReadHeaderTimeout < 0 || o.ReadTimeout < 0 || o.IdleTimeout < 0 {
		return errors.New("server timeouts must not be negative")
	}
	return nil
}

func (o *Options) withDefaults() Options {
	c := *o
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.MaxEvaluations == 0 {
		c.MaxEvaluations = 2 * runtime.GOMAXPROCS(0)
	}
	return c
}

// writeTimeout bounds one request from its headers to the end of its answer: the body,
// the wait for an evaluation slot and the evaluation (together at most EvalTimeout), and
// a margin for writing. A client that does not read its answer is cut off then.
func (o *Options) writeTimeout() time.Duration {
	return o.ReadTimeout + o.EvalTimeout + 5*time.Second
}

// tls12Suites are the TLS 1.2 cipher suites served: ephemeral key exchange (forward
// secrecy) and authenticated encryption only, for ECDSA and RSA keys (cert-manager issues
// RSA by default). No CBC, RC4, 3DES or static-RSA key exchange. TLS 1.3 suites are all
// of this kind, and Go does not let them be configured.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// tlsConfig is the webhook's TLS configuration, without its certificate.
func (o *Options) tlsConfig() (*tls.Config, error) {
	minVersion, err := o.tlsVersion()
	if err != nil {
		return nil, err
	}
	c := &tls.Config{
		MinVersion:   minVersion,
		CipherSuites: tls12Suites,
		// HTTP/2 stays off: its stream multiplexing has had denial-of-service bugs
		// (rapid reset), and the API server speaks HTTP/1.1 to webhooks anyway.
		NextProtos: []string{"http/1.1"},
	}
	if o.ClientCAFile == "" {
		return c, nil
	}
	pemBytes, err := os.ReadFile(o.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("--client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("--client-ca %s: no PEM certificate in the file", o.ClientCAFile)
	}
	c.ClientCAs = pool
	c.ClientAuth = tls.RequireAndVerifyClientCert
	return c, nil
}

func (o *Options) tlsVersion() (uint16, error) {
	switch o.TLSMinVersion {
	case "1.2", "":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--tls-min-version %q: use 1.2 or 1.3", o.TLSMinVersion)
}
