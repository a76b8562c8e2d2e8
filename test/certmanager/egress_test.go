package certmanager

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// egressProxy is what a konnectivity server is to a real cluster: the API server's way
// to the cluster network. It answers HTTP CONNECT on a Unix socket and connects only the
// addresses it was told about, to local ones; the API server never sends a packet to a
// Service address itself.
type egressProxy struct {
	socket string

	mu      sync.Mutex
	routes  map[string]string // host:port asked for -> local host:port
	asked   []string          // every CONNECT target, in order
	refused []string
}

// startEgressProxy listens on dir/egress.sock until the test ends.
func startEgressProxy(t *testing.T, dir string) *egressProxy {
	t.Helper()
	p := &egressProxy{socket: filepath.Join(dir, "egress.sock"), routes: map[string]string{}}
	ln, err := net.Listen("unix", p.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(conn)
		}
	}()
	return p
}

// configFile writes the kube-apiserver --egress-selector-config-file that sends the
// "cluster" egress (webhooks, aggregated APIs, Services) through the proxy.
func (p *egressProxy) configFile(t *testing.T, dir string) string {
	t.Helper()
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
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *egressProxy) route(from, to string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.routes[from] = to
}

// seen returns the CONNECT targets asked for and those refused.
func (p *egressProxy) seen() (asked, refused []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.asked...), append([]string(nil), p.refused...)
}

func (p *egressProxy) serve(conn net.Conn) {
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
