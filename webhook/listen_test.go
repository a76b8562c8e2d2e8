package webhook

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPlainPortBoundsConnections: with a bound of two, a third connection is not served
// while two are open, and is served once one of them closes.
func TestPlainPortBoundsConnections(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	url, serve, err := listenPlain(t.Context(), "127.0.0.1:0", h, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = serve() }()
	addr := strings.TrimPrefix(url, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	send := func(c net.Conn) {
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	// wait bounds only the read that must find nothing; reads that must get an answer
	// wait for it (wait 0), however long a busy machine takes.
	answer := func(c net.Conn, r *bufio.Reader, wait time.Duration) error {
		deadline := time.Time{}
		if wait > 0 {
			deadline = time.Now().Add(wait)
		}
		_ = c.SetReadDeadline(deadline)
		resp, err := http.ReadResponse(r, nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	first, second := dial(), dial()
	for _, c := range []net.Conn{first, second} {
		send(c)
		if err := answer(c, bufio.NewReader(c), 0); err != nil {
			t.Fatalf("one of the first two connections: %v", err)
		}
	}
	third := dial() // the kernel accepts it; podguard does not, yet
	send(third)
	r := bufio.NewReader(third)
	if err := answer(third, r, 300*time.Millisecond); err == nil {
		t.Fatal("a third connection was served while two were open")
	}
	first.Close()
	if err := answer(third, r, 0); err != nil {
		t.Errorf("the third connection once one closed: %v", err)
	}
}
