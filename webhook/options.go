package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/podguard/podguard/policies/engine"
)

// Options configures `podguard serve`.
type Options struct {
	// CertDir holds tls.crt and tls.key; they are reloaded when the files change.
	CertDir string
	// Port is the HTTPS port of the webhook endpoints. Defaults to 9443.
	Port int
	// BindAddress is the address the webhook listens on; empty means every interface.
	BindAddress string
	// ConfigFile is the configuration file; empty means the embedded defaults.
	ConfigFile string
	// PolicyDir holds custom Rego rules added to the built-in ones.
	PolicyDir string
	// Evaluator runs the rules: "plan" (the default, also when empty) or "rego", OPA's
	// evaluator, the way out should the plan ever answer differently
	// (engine.Options.UseEvaluator).
	Evaluator string
	// MetricsAddr serves /metrics. Defaults to :8080.
	MetricsAddr string
	// MetricsSecure serves /metrics over HTTPS, with the serving certificate, to callers
	// the API server authenticates (TokenReview) and authorises (SubjectAccessReview for
	// get on the non-resource URL /metrics). It needs a cluster, like WatchCluster.
	MetricsSecure bool
	// HealthAddr serves /healthz and /readyz. Defaults to :8081.
	HealthAddr string
	// TLSMinVersion is 1.2 or 1.3. Defaults to 1.2.
	TLSMinVersion string
	// EvalTimeout bounds a review from the moment its body is in: the wait for an
	// evaluation slot, decoding and evaluation. It must stay below the webhook's
	// timeoutSeconds so that podguard answers with an error before the API server gives up.
	EvalTimeout time.Duration
	// PolicyTestTimeout bounds each *_test.rego test of PolicyDir, run whenever a set is
	// loaded; zero means engine.DefaultTestTimeout.
	PolicyTestTimeout time.Duration
	// MaxEvaluations bounds the reviews decoded and evaluated at once (see Gate); the
	// wait for a slot counts into EvalTimeout.
	// Zero means twice the cores the process may use.
	MaxEvaluations int
	// MaxConnections bounds the connections open on the webhook port (see connLimits).
	// Zero means one per 512 KiB of the memory limit (see memoryBudgets).
	MaxConnections int
	// MaxConnectionsPerSource bounds the connections from one address. Zero means half
	// of MaxConnections.
	MaxConnectionsPerSource int
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
	// WebhookConfiguration names the Validating- and MutatingWebhookConfiguration that
	// call this podguard; once ready, podguard sets their failurePolicy to what their
	// podguard.io/failure-policy annotation asks (see registration.go). Needs a cluster.
	WebhookConfiguration string
	// NoPrefilter keeps podguard from writing its generated matchConditions
	// (policies/prefilter) onto those configurations.
	NoPrefilter bool
	// Version is the build's version, for the start-up log line.
	Version string

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
	fs.StringVar(&o.BindAddress, "bind-address", "", "address the webhook listens on (default: every interface)")
	fs.StringVar(&o.ConfigFile, "config", "", "configuration file (default: the embedded defaults)")
	fs.StringVar(&o.PolicyDir, "policy-dir", "", "directory of custom Rego rules (package pod.rules.<id>)")
	fs.StringVar(&o.Evaluator, "evaluator", "plan", "what runs the rules: plan (OPA's planner, run by podguard; OPA's evaluator for rules it cannot plan) or rego (OPA's evaluator, slower: the way out should the plan ever answer differently)")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of /metrics")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", false, "serve /metrics over HTTPS with the serving certificate, only to callers the API server authenticates and authorises (get on /metrics); needs a cluster")
	fs.StringVar(&o.HealthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&o.TLSMinVersion, "tls-min-version", "1.2", "minimum TLS version: 1.2 or 1.3")
	fs.DurationVar(&o.EvalTimeout, "eval-timeout", 2*time.Second, "deadline of one review once its body is read: the wait for an evaluation slot, decoding and policy evaluation")
	fs.DurationVar(&o.PolicyTestTimeout, "policy-test-timeout", engine.DefaultTestTimeout, "how long each *_test.rego test of --policy-dir may run when a policy set is loaded; a test still running then refuses the set")
	fs.IntVar(&o.MaxEvaluations, "max-evaluations", 0, "reviews decoded and evaluated at once, more wait for a slot within --eval-timeout (default: twice the usable cores)")
	fs.IntVar(&o.MaxConnections, "max-connections", 0, "connections open at once on the webhook port; when all are taken, a new one that has not sent a request yet is closed for the one arriving, else it waits to be accepted (default: one per 512 KiB of the memory limit, GOMEMLIMIT)")
	fs.IntVar(&o.MaxConnectionsPerSource, "max-connections-per-source", 0, "connections open at once from one address on the webhook port (default: half of --max-connections)")
	fs.DurationVar(&o.ReloadInterval, "reload-interval", 2*time.Second, "how often to check --config and --policy-dir for changes")
	fs.BoolVar(&o.WatchCluster, "watch-cluster", true, "watch LimitRanges (their defaults apply to workload templates) and Namespaces (their labels select overrides); needs a cluster")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to watch (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 10*time.Second, "time to keep serving after SIGTERM")
	fs.StringVar(&o.WebhookConfiguration, "webhook-configuration", "", "name of the webhook configurations calling podguard: once ready, and once their caBundle verifies the serving certificate, podguard sets their failurePolicy to their podguard.io/failure-policy annotation; needs a cluster")
	fs.BoolVar(&o.NoPrefilter, "no-prefilter", false, "with --webhook-configuration, do not write podguard's generated matchConditions (podguard prefilter) onto the webhooks, which lets the API server skip calls whose answer cannot matter")
	fs.StringVar(&o.ClientCAFile, "client-ca", "", "PEM file of CAs; when set, callers must present a client certificate signed by one of them (mutual TLS)")
}

// OptionError is a start-up error that the operator fixes on the command line or in the
// files it names. `podguard serve` prints it on one line and exits with status 2.
type OptionError struct{ Err error }

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func optionError(format string, a ...any) error {
	return &OptionError{Err: fmt.Errorf(format, a...)}
}

// Validate reports the first invalid option, as an *OptionError.
func (o *Options) Validate() error {
	if o.CertDir == "" {
		return optionError("--cert-dir is required")
	}
	if o.Port <= 0 || o.Port > 65535 {
		return optionError("--port %d is not a TCP port", o.Port)
	}
	if _, err := o.tlsVersion(); err != nil {
		return &OptionError{Err: err}
	}
	if err := new(engine.Options).UseEvaluator(o.Evaluator); o.Evaluator != "" && err != nil {
		return optionError("--evaluator: %v", err)
	}
	if o.EvalTimeout <= 0 {
		return optionError("--eval-timeout must be positive")
	}
	if o.PolicyTestTimeout < 0 {
		return optionError("--policy-test-timeout must not be negative")
	}
	if o.MaxEvaluations < 0 {
		return optionError("--max-evaluations must not be negative")
	}
	if o.MaxConnections < 0 {
		return optionError("--max-connections must not be negative")
	}
	if o.MaxConnectionsPerSource < 0 {
		return optionError("--max-connections-per-source must not be negative")
	}
	if o.ReloadInterval < 0 {
		return optionError("--reload-interval must not be negative")
	}
	if o.ShutdownDelay < 0 {
		return optionError("--shutdown-delay must not be negative")
	}
	if o.ReadHeaderTimeout < 0 || o.ReadTimeout < 0 || o.IdleTimeout < 0 {
		return optionError("server timeouts must not be negative")
	}
	return nil
}

// checkPaths reports, as an *OptionError, a file or directory named on the command line
// that does not exist: a wrong path does not fix itself, so podguard says so and exits
// rather than wait, unready, for a file that will never come. (Content that does not
// load is different: the process stays up, not ready, and loads it once it is fixed.)
func (o *Options) checkPaths() error {
	for _, p := range []struct {
		flag, path string
		dir        bool
	}{
		{"--cert-dir", o.CertDir, true},
		{"--cert-dir", filepath.Join(o.CertDir, "tls.crt"), false},
		{"--cert-dir", filepath.Join(o.CertDir, "tls.key"), false},
		{"--config", o.ConfigFile, false},
		{"--policy-dir", o.PolicyDir, true},
		{"--client-ca", o.ClientCAFile, false},
		{"--kubeconfig", o.Kubeconfig, false},
	} {
		if p.path == "" {
			continue
		}
		fi, err := os.Stat(p.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return optionError("%s: %s does not exist", p.flag, p.path)
		case err != nil:
			return optionError("%s: %w", p.flag, err)
		case p.dir && !fi.IsDir():
			return optionError("%s: %s is not a directory", p.flag, p.path)
		case !p.dir && fi.IsDir():
			return optionError("%s: %s is a directory, not a file", p.flag, p.path)
		}
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
	if c.MaxConnections == 0 {
		c.MaxConnections = c.memory().connections
	}
	if c.MaxConnectionsPerSource == 0 {
		c.MaxConnectionsPerSource = max(c.MaxConnections/2, 1)
	}
	return c
}

// memoryBudgets are the bounds that keep the request path within the memory limit,
// whatever clients send. At the default limit of the chart (512 MiB):
//
//	evaluations  3/8 of the limit  192 MiB  estimated memory of the reviews being judged
//	bodies       1/8 of the limit   64 MiB  review bodies beyond their first 32 KiB
//	connections  one per 512 KiB     1024   each holding at most its TLS state, 16 KiB of
//	                                        headers and 32 KiB of body (about 100 KiB)
//
// which leaves about a fifth of the limit for the compiled policies (some 50 MiB) and
// the garbage collector's headroom.
type memoryBudgets struct {
	// limit is GOMEMLIMIT, or defaultMemoryLimit when it is not set.
	limit       int64
	limitSet    bool
	evaluations int64
	bodies      int64
	connections int
}

// defaultMemoryLimit is assumed without GOMEMLIMIT: the chart's default memory limit.
const defaultMemoryLimit = 512 << 20

func (o *Options) memory() memoryBudgets {
	m := memoryBudgets{limit: debug.SetMemoryLimit(-1), limitSet: true}
	if m.limit == math.MaxInt64 {
		m.limit, m.limitSet = defaultMemoryLimit, false
	}
	m.evaluations = m.limit / 8 * 3
	// A body of the largest size must fit, or it could never be read.
	m.bodies = max(m.limit/8, reviewBytesLimit)
	m.connections = int(max(m.limit/(512<<10), 64))
	return m
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
