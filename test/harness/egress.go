package harness

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/podguard/podguard/test/cluster"
)

// EgressProxy is what a konnectivity server is to a real cluster: the API server's way
// to the cluster network. It answers HTTP CONNECT on a Unix socket and connects only the
// addresses it was told about (Route), to local ones; the API server never sends a packet
// to a Service address itself. An address with no route is refused, as a Service without
// endpoints would be.
type EgressProxy struct {
	socket string
	ln     net.Listener

	mu      sync.Mutex
	routes  map[string]string // host:port asked for -> local host:port
	asked   []string          // every CONNECT target, in order
	refused []string
}

// StartEgressProxy listens on dir/egress.sock until Close. Unix socket paths are limited
// to about 100 bytes: dir must be short (os.MkdirTemp("", ...), not t.TempDir()).
func StartEgressProxy(dir string) (*EgressProxy, error) {
	p := &EgressProxy{socket: filepath.Join(dir, "egress.sock"), routes: map[string]string{}}
	ln, err := net.Listen("unix", p.socket)
	if err != nil {
		return nil, err
	}
	p.ln = ln
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(conn)
		}
	}()
	return p, nil
}

// StartClusterBehindProxy starts a cluster for the test whose API server reaches the
// cluster network only through an EgressProxy, which the test routes; both end at cleanup.
func StartClusterBehindProxy(t testing.TB, opts ...cluster.Option) (*cluster.Cluster, *EgressProxy) {
	t.Helper()
	// Short, for the socket's path: not t.TempDir().
	sockDir, err := os.MkdirTemp("", "pgegress")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	proxy, err := StartEgressProxy(sockDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	config, err := proxy.ConfigFile(sockDir)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]cluster.Option{cluster.WithAPIServerFlag("egress-selector-config-file", config)}, opts...)
	return cluster.Start(t, opts...), proxy
}

// Close stops listening.
func (p *EgressProxy) Close() error { return p.ln.Close() }

// ConfigFile writes, in dir, the kube-apiserver --egress-selector-config-file that sends
// the "cluster" egress (webhooks, aggregated APIs, Services) through the proxy, and
// returns its path.
func (p *EgressProxy) ConfigFile(dir string) (string, error) {
	path := filepath.Join(dir, "egress-selector.yaml")
	config := `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
  - name: cluster
    connection:
      proxyProtocol: HTTPConnect
      transport:
        uds:
          udsName: ` + p.socket + "\n"
	return path, os.WriteFile(path, []byte(config), 0o600)
}

// Route connects from (a Service's host:port) to a local address; an empty to removes
// the route.
func (p *EgressProxy) Route(from, to string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if to == "" {
		delete(p.routes, from)
		return
	}
	p.routes[from] = to
}

// Seen returns the CONNECT targets asked for and those refused.
func (p *EgressProxy) Seen() (asked, refused []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.asked...), append([]string(nil), p.refused...)
}

func (p *EgressProxy) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		io.WriteString(conn, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		return
	}
	target := req.Host
	p.mu.Lock()
	p.asked = append(p.asked, target)
	to, ok := p.routes[target]
	if !ok {
		p.refused = append(p.refused, target)
	}
	p.mu.Unlock()
	if !ok {
		io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", to)
	if err != nil {
		io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer up.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); done <- struct{}{} }()
	go func() { io.Copy(conn, up); done <- struct{}{} }()
	<-done
}
