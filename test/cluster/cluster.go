package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// defaultServiceRange is the API server's --service-cluster-ip-range.
const defaultServiceRange = "10.0.0.0/24"

// firstServiceIP is the address the API server gives the "kubernetes"
// Service: the first one of the range.
func firstServiceIP(cidr string) (net.IP, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("service-cluster-ip-range %q: %w", cidr, err)
	}
	ip := n.IP.To4()
	if ip == nil {
		return nil, fmt.Errorf("service-cluster-ip-range %q: only IPv4 is supported", cidr)
	}
	ip = append(net.IP{}, ip...)
	ip[3]++
	return ip, nil
}

// Cluster is a running etcd + kube-apiserver pair.
type Cluster struct {
	// Version is the gitVersion the server reports, e.g. "v1.37.2".
	Version string
	// Dir holds the PKI, etcd's data and the two logs (etcd.log,
	// kube-apiserver.log).
	Dir string
	// Clientset and Client are authenticated as a member of system:masters.
	// Client uses client-go's scheme; for CRD types build a client from
	// RestConfig() with your own scheme.
	Clientset kubernetes.Interface
	Client    client.Client

	config    *rest.Config
	pki       *pki
	apiPort   int
	procs     []*process // in start order; stopped in reverse
	closeOnce sync.Once
}

// Option changes how the cluster is started.
type Option func(*options)

type options struct {
	apiserverFlags map[string]string
}

// WithAPIServerFlag sets kube-apiserver's --name=value, replacing the
// default for that flag if there is one (e.g. "authorization-mode",
// "feature-gates", "admission-control-config-file").
func WithAPIServerFlag(name, value string) Option {
	return func(o *options) { o.apiserverFlags[name] = value }
}

// RestConfig returns a copy of the admin client configuration.
func (c *Cluster) RestConfig() *rest.Config { return rest.CopyConfig(c.config) }

// Start runs a cluster for the test and stops it in t.Cleanup. A failure to
// build or start is a test failure, never a skip: these tests are the only
// check of podguard against a real API server.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	dir := t.TempDir() // registered first, so it is removed after Close
	c, err := start(t.Context(), dir, t.Logf, opts...)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range c.procs {
				t.Logf("%s log (last lines):\n%s", p.name, p.logTail())
			}
		}
		c.Close()
	})
	return c
}

// Stop is Close for tests, which have nothing to do with the error.
func (c *Cluster) Stop() { c.Close() }

// StartProcess builds the binaries if needed, then starts etcd and
// kube-apiserver with their files under dir and waits until the API server
// is ready. ctx bounds the build and the start, not the cluster's life: call
// Close. Progress lines go to logw (may be nil); the servers' own output
// goes to log files in dir.
func StartProcess(ctx context.Context, dir string, logw io.Writer, opts ...Option) (*Cluster, error) {
	return start(ctx, dir, writerLogf(logw), opts...)
}

func start(ctx context.Context, dir string, logf logf, opts ...Option) (*Cluster, error) {
	o := options{apiserverFlags: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	bins, err := ensureBinaries(ctx, logf)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	serviceRange := defaultServiceRange
	if r, ok := o.apiserverFlags["service-cluster-ip-range"]; ok {
		serviceRange = r
	}
	serviceIP, err := firstServiceIP(serviceRange)
	if err != nil {
		return nil, err
	}
	certs, err := writePKI(filepath.Join(dir, "pki"), serviceIP)
	if err != nil {
		return nil, err
	}
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	apiPort := strconv.Itoa(ports[2])

	c := &Cluster{Dir: dir, pki: certs, apiPort: ports[2]}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()

	etcd, err := startProcess(dir, "etcd", bins.Etcd,
		"--name=podguard-test",
		"--data-dir="+filepath.Join(dir, "etcd-data"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=podguard-test="+peerURL,
		// The data is thrown away with the test; fsync only costs time.
		"--unsafe-no-fsync=true",
	)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, etcd)

	flags := map[string]string{
		"etcd-servers":      etcdURL,
		"bind-address":      "127.0.0.1",
		"advertise-address": "127.0.0.1",
		// v1.37 refuses to start when the endpoint reconciler would publish
		// a loopback address for the "kubernetes" Service; nothing here
		// reaches the API server through that Service.
		"endpoint-reconciler-type": "none",
		"secure-port":              apiPort,
		"tls-cert-file":            certs.servingCertFile,
		"tls-private-key-file":     certs.servingKeyFile,
		// Unused since the serving cert is given, but keeps the server from
		// ever writing to its default /var/run/kubernetes.
		"cert-dir":                         filepath.Join(dir, "apiserver-certs"),
		"client-ca-file":                   certs.caFile,
		"service-account-issuer":           "https://kubernetes.default.svc.cluster.local",
		"service-account-key-file":         certs.serviceAccountPub,
		"service-account-signing-key-file": certs.serviceAccountKey,
		"service-cluster-ip-range":         serviceRange,
		// Logs and exec of Pods on a node, as the admin.
		"kubelet-client-certificate": certs.clientCertFile,
		"kubelet-client-key":         certs.clientKeyFile,
		"authorization-mode":         "RBAC",
		// No controller manager runs, so no namespace gets a "default"
		// ServiceAccount, and this plugin would reject every pod.
		"disable-admission-plugins": "ServiceAccount",
		// Otherwise the server itself rejects privileged pods before a
		// validating webhook sees them, and podguard's checks go untested.
		"allow-privileged": "true",
	}
	for k, v := range o.apiserverFlags {
		flags[k] = v
	}
	apiserver, err := startProcess(dir, "kube-apiserver", bins.KubeAPIServer, flagArgs(flags)...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, apiserver)

	c.config = &rest.Config{
		Host: "https://127.0.0.1:" + apiPort,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   certs.caCertPEM,
			CertData: certs.clientCertPEM,
			KeyData:  certs.clientKeyPEM,
		},
		// client-go's default 5 QPS would throttle tests that create many
		// objects.
		QPS:   100,
		Burst: 200,
	}
	if c.Clientset, err = kubernetes.NewForConfig(c.config); err != nil {
		return nil, err
	}
	if c.Client, err = client.New(c.config, client.Options{}); err != nil {
		return nil, err
	}
	started := time.Now()
	if err := c.waitReady(ctx); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, c.logTails())
	}
	ready := time.Since(started).Round(time.Millisecond)
	v, err := c.Clientset.Discovery().ServerVersion()
	if err != nil {
		return nil, err
	}
	c.Version = v.GitVersion
	logf("kube-apiserver %s at %s (etcd %s, files in %s), ready after %s", c.Version, c.config.Host, EtcdVersion, dir, ready)
	ok = true
	return c, nil
}

// waitReady polls /readyz, and the "default" namespace that a bootstrap
// controller creates shortly after, so tests can use both right away. On 2 quiet cores
// kube-apiserver is ready within 10-20 seconds, on a busy machine much later: the bound
// is ctx's (the test binary's), and the time it took is logged.
func (c *Cluster) waitReady(ctx context.Context) error {
	rc := c.Clientset.Discovery().RESTClient()
	var lastErr error
	for {
		for _, p := range c.procs {
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited during start: %v", p.name, p.err)
			default:
			}
		}
		_, lastErr = rc.Get().AbsPath("/readyz").DoRaw(ctx)
		if lastErr == nil {
			_, lastErr = c.Clientset.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
			if lastErr == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver at %s not ready: %v (last error: %v)", c.config.Host, ctx.Err(), lastErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Close kills both servers and waits for them to exit. It is safe to call
// more than once.
func (c *Cluster) Close() error {
	var errs []error
	c.closeOnce.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			errs = append(errs, c.procs[i].stop())
		}
	})
	return errors.Join(errs...)
}

func (c *Cluster) logTails() string {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "--- %s log (last lines) ---\n%s\n", p.name, p.logTail())
	}
	return b.String()
}

type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	exited  chan struct{} // closed when the process has exited; err is set then
	err     error
}

func startProcess(dir, name, binary string, args ...string) (*process, error) {
	p := &process{name: name, logPath: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	var err error
	if p.logFile, err = os.Create(p.logPath); err != nil {
		return nil, err
	}
	fmt.Fprintf(p.logFile, "%s %s\n\n", binary, strings.Join(args, " "))
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = p.logFile
	p.cmd.Stderr = p.logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so stop can kill whatever it spawned.
		Setpgid: true,
		// If the test binary dies (e.g. go test's timeout panic), cleanups
		// never run; the kernel still kills the servers.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := p.cmd.Start(); err != nil {
		p.logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop kills the process group outright: the cluster's state is thrown away,
// so a graceful shutdown would only cost time.
func (p *process) stop() error {
	defer p.logFile.Close()
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	// The kernel ends a killed process however busy the machine is; waiting for that
	// needs no bound of its own.
	<-p.exited
	return nil
}

func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	return tail(b, 40)
}

// FreePorts asks the kernel for n distinct free loopback ports. They are
// released before the servers bind them; a clash is possible but rare.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func flagArgs(flags map[string]string) []string {
	var args []string
	for k, v := range flags {
		args = append(args, "--"+k+"="+v)
	}
	sort.Strings(args)
	return args
}
