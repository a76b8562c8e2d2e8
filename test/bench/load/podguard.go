package load

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/podguard/podguard/test/harness"
)

// Flags registers the two flags of every load generator that runs podguard on request
// bodies: -podguard, the binary, and -bodies, the bodies' directory.
func Flags() (podguard, bodies *string) {
	return flag.String("podguard", "bin/podguard", "podguard binary"),
		flag.String("bodies", "test/bench/bodies", "directory of the request bodies")
}

// Main runs a load generator: run gets a context that SIGTERM and Ctrl-C cancel. The
// process exits 2 when run fails (its error on stderr after name), 1 when what it
// measured missed its target (ok false), else 0.
func Main(name string, run func(ctx context.Context) (ok bool, err error)) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	ok, err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// WorkDir returns dir, or when dir is empty a new temporary directory named after prefix,
// which remove deletes.
func WorkDir(dir, prefix string) (_ string, remove func(), err error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// ReadBody reads a request body of the bodies directory and the verdict it must get.
func ReadBody(dir, file string, allowed bool) (*Body, error) {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	return &Body{Name: file, Data: data, Allowed: &allowed}, nil
}

// PodguardOptions says how to run podguard for a load generator.
type PodguardOptions struct {
	// Bin is the podguard binary; Dir receives its certificates and its log.
	Bin, Dir string
	// Env is extra environment (KEY=value), e.g. GOMEMLIMIT as the chart sets it.
	Env []string
	// ShutdownDelay is --shutdown-delay.
	ShutdownDelay time.Duration
	// Args are extra serve flags.
	Args []string
}

// Podguard is `podguard serve` on loopback with a certificate of a fresh test CA and no
// cluster to watch; its Server posts to /validate.
type Podguard struct {
	*Server
	// CAPEM is the test CA that signed the serving certificate.
	CAPEM []byte
	// Addr is the webhook's host:port; Base its https:// URL.
	Addr, Base string
	// MetricsURL is /metrics, over plain HTTP.
	MetricsURL string
}

// StartPodguard starts podguard; it does not wait for it to be ready (Server.WaitReady).
func StartPodguard(o PodguardOptions) (*Podguard, error) {
	certs := filepath.Join(o.Dir, "certs")
	caPEM, err := harness.WriteServingCert(certs)
	if err != nil {
		return nil, err
	}
	ports, err := harness.FreePorts(3)
	if err != nil {
		return nil, err
	}
	p := &Podguard{
		CAPEM:      caPEM,
		Addr:       "127.0.0.1:" + strconv.Itoa(ports[0]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1]),
	}
	p.Base = "https://" + p.Addr
	argv := append([]string{o.Bin, "serve", "--cert-dir", certs, "--port", strconv.Itoa(ports[0]),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--watch-cluster=false", "--shutdown-delay", o.ShutdownDelay.String()}, o.Args...)
	if p.Server, err = StartEnv("podguard", p.Base+"/validate", o.Dir, o.Env, argv...); err != nil {
		return nil, err
	}
	return p, nil
}
