package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podguard/podguard/test/cluster"
)

// Podguard is a running `podguard serve` process.
type Podguard struct {
	// URL is the HTTPS base URL of the webhook, e.g. https://127.0.0.1:40123.
	URL string
	// CABundle is the PEM of the CA that signed the serving certificate.
	CABundle []byte
	// HealthURL serves /healthz and /readyz; MetricsURL serves /metrics (over HTTPS,
	// with the serving certificate, when podguard runs with --metrics-secure).
	HealthURL, MetricsURL string
	// Log is the file holding the process's output.
	Log string

	cmd      *exec.Cmd
	done     chan struct{}
	stopOnce sync.Once
}

// Options says how to run podguard.
type Options struct {
	// Binary is the podguard executable; empty means Binary() decides.
	Binary string
	// Dir receives the certificates and the log.
	Dir string
	// ConfigFile is passed as --config when set.
	ConfigFile string
	// Kubeconfig lets podguard watch LimitRanges and Namespaces in that cluster; empty runs it with
	// --watch-cluster=false.
	Kubeconfig string
	// CertDir serves an existing tls.crt and tls.key; empty means a fresh test CA and
	// certificate for 127.0.0.1 (then CABundle holds the CA).
	CertDir string
	// Args are extra flags for serve.
	Args []string
}

// metricsSecure says whether args turn on --metrics-secure.
func metricsSecure(args []string) bool {
	secure := false
	for _, a := range args {
		switch a {
		case "--metrics-secure", "-metrics-secure", "--metrics-secure=true", "-metrics-secure=true":
			secure = true
		case "--metrics-secure=false", "-metrics-secure=false":
			secure = false
		}
	}
	return secure
}

var (
	buildOnce  sync.Once
	builtPath  string
	buildError error
)

// Binary returns the podguard binary the tests run: $PODGUARD_BIN when set (make test
// builds it with the release flags), otherwise one built once from this checkout.
func Binary() (string, error) {
	if p := os.Getenv("PODGUARD_BIN"); p != "" {
		return p, nil
	}
	buildOnce.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(here), "..", "..")
		dir, err := os.MkdirTemp("", "podguard-bin-")
		if err != nil {
			buildError = err
			return
		}
		builtPath = filepath.Join(dir, "podguard")
		cmd := exec.Command("go", "build", "-o", builtPath, "./cmd/podguard")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildError = fmt.Errorf("building podguard: %v\n%s", err, out)
		}
	})
	return builtPath, buildError
}

// StartUnready runs podguard serve with a fresh CA and serving certificate for 127.0.0.1,
// without waiting for it to become ready.
func StartUnready(ctx context.Context, o Options) (*Podguard, error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	certDir, ca := o.CertDir, []byte(nil)
	if certDir == "" {
		certDir = filepath.Join(o.Dir, "certs")
		var err error
		if ca, err = WriteServingCert(certDir); err != nil {
			return nil, err
		}
	}
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	p := &Podguard{
		URL:        "https://127.0.0.1:" + strconv.Itoa(ports[0]),
		CABundle:   ca,
		HealthURL:  "http://127.0.0.1:" + strconv.Itoa(ports[1]),
		MetricsURL: "http://127.0.0.1:" + strconv.Itoa(ports[2]),
		Log:        filepath.Join(o.Dir, "podguard.log"),
		done:       make(chan struct{}),
	}
	args := []string{"serve",
		"--cert-dir", certDir,
		"--bind-address", "127.0.0.1",
		"--port", strconv.Itoa(ports[0]),
		"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(ports[1]),
		"--metrics-bind-address", "127.0.0.1:" + strconv.Itoa(ports[2]),
		"--shutdown-delay", "0s",
		// Below the API server's bound on a call (TimeoutSeconds), as the chart sets it,
		// but as long as that allows: a busy machine slows reviews, it does not fail them.
		"--eval-timeout", strconv.Itoa(TimeoutSeconds-5) + "s",
	}
	if metricsSecure(o.Args) {
		p.MetricsURL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	}
	if o.ConfigFile != "" {
		args = append(args, "--config", o.ConfigFile)
	}
	if o.Kubeconfig != "" {
		args = append(args, "--kubeconfig", o.Kubeconfig)
	} else {
		args = append(args, "--watch-cluster=false")
	}
	args = append(args, o.Args...)
	logf, err := os.Create(p.Log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		_ = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Start runs podguard serve (see StartUnready) and waits until /readyz answers 200. The
// free ports are picked before podguard binds them; when another process took one in
// between, podguard is started again on new ones.
func Start(ctx context.Context, o Options) (*Podguard, error) {
	for attempt := 1; ; attempt++ {
		p, err := StartUnready(ctx, o)
		if err != nil {
			return nil, err
		}
		err = p.waitReady(ctx)
		if err == nil {
			return p, nil
		}
		p.Stop()
		if attempt < 3 && strings.Contains(p.LogTail(), "address already in use") {
			continue
		}
		return nil, fmt.Errorf("%w\n%s", err, p.LogTail())
	}
}

// StartForTest is Start for a test: a failure to start ends the test, and the process is
// stopped at cleanup, with the end of its log shown when the test failed.
func StartForTest(t testing.TB, o Options) *Podguard {
	t.Helper()
	p, err := Start(t.Context(), o)
	if err != nil {
		t.Fatalf("starting podguard with %v: %v", o.Args, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("podguard log (last lines):\n%s", p.LogTail())
		}
		p.Stop()
	})
	return p
}

// waitReady has no bound of its own: how long podguard takes to start is the machine's
// business, and the bound is ctx's (the test binary's, go test -timeout).
func (p *Podguard) waitReady(ctx context.Context) error {
	for {
		resp, err := http.Get(p.HealthURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return errors.New("podguard exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("podguard not ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (p *Podguard) Stop() {
	p.stopOnce.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// LogTail returns the end of the process output, for failure messages.
func (p *Podguard) LogTail() string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Client returns an HTTPS client that trusts podguard's CA.
func (p *Podguard) Client() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.CABundle)
	// No timeout: a busy machine answers late, not wrongly; the test binary bounds it.
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// WriteServingCert creates a CA and a serving certificate for 127.0.0.1 and localhost in
// dir (tls.crt, tls.key), and returns the CA's PEM.
func WriteServingCert(dir string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	files, err := ca.Serving(2)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o600); err != nil {
			return nil, err
		}
	}
	return ca.PEM, nil
}

// FreePorts returns n TCP ports on 127.0.0.1 that were free a moment ago.
func FreePorts(n int) ([]int, error) { return cluster.FreePorts(n) }
