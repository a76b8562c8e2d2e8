package webhook

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// plainServer serves h over plain HTTP on 127.0.0.1 with the given limits, keeping to
// the webhook's read timeouts, until the test ends.
func plainServer(t *testing.T, limits connLimits, h http.Handler) *httpServer {
	t.Helper()
	s, err := listenHTTP(t.Context(), "test", "127.0.0.1:0", h, nil, &limits)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.serve() }()
	t.Cleanup(func() {
		s.close()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })

// testConn is one connection to a test server, from the loopback address from.
type testConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialFrom(t *testing.T, s *httpServer, from string) *testConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &testConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *testConn) send() {
	c.t.Helper()
	if _, err := c.c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		c.t.Fatal(err)
	}
}

// answer reads one answer, waiting at most wait; 0 waits for it however long a busy
// machine takes (only a read that must find nothing is bounded).
func (c *testConn) answer(wait time.Duration) (*http.Response, error) {
	deadline := time.Time{}
	if wait > 0 {
		deadline = time.Now().Add(wait)
	}
	_ = c.c.SetReadDeadline(deadline)
	resp, err := http.ReadResponse(c.r, nil)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// request sends a request and fails the test unless it is answered 200.
func (c *testConn) request() *http.Response {
	c.t.Helper()
	c.send()
	resp, err := c.answer(0)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("HTTP %d", resp.StatusCode)
	}
	return resp
}

// closedByServer waits until the server closes the connection.
func (c *testConn) closedByServer() bool {
	_ = c.c.SetReadDeadline(time.Time{})
	_, err := c.r.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestConnectionsThatSentARequestHoldTheirSlot: with two slots held by connections that
// have sent a request, a third connection is not served; it is once one of them closes.
func TestConnectionsThatSentARequestHoldTheirSlot(t *testing.T) {
	s := plainServer(t, connLimits{total: 2, perSource: 10}, ok)
	first, second := dialFrom(t, s, "127.0.0.1"), dialFrom(t, s, "127.0.0.1")
	first.request()
	second.request()
	third := dialFrom(t, s, "127.0.0.1") // the kernel accepts it; podguard does not, yet
	third.send()
	if _, err := third.answer(300 * time.Millisecond); err == nil {
		t.Fatal("a third connection was served while two that had sent requests were open")
	}
	first.c.Close()
	if _, err := third.answer(0); err != nil {
		t.Errorf("the third connection once one closed: %v", err)
	}
}

// TestNewConnectionsMakeRoom: when every slot holds a connection that has sent nothing,
// an arriving connection is served at once (the server's own timeouts are far off), and the oldest connection of the source holding the most is the one closed for it.
func TestNewConnectionsMakeRoom(t *testing.T) {
	s := plainServer(t, connLimits{total: 3, perSource: 3}, ok)
	var silent []*testConn
	for range 3 {
		c := dialFrom(t, s, "127.0.0.2")
		silent = append(silent, c)
		waitUntil(t, 30*time.Second, "the silent connection accepted", func() bool { return s.limited.conns() == len(silent) })
	}
	dialFrom(t, s, "127.0.0.1").request()
	if !silent[0].closedByServer() {
		t.Error("the oldest silent connection was not the one closed")
	}
	if n := s.limited.conns(); n != 3 {
		t.Errorf("%d connections open, want 3", n)
	}
}

// TestPerSourceBound: a source at its bound gives up its oldest new connection for the
// next; when it has none, the arriving connection is closed. Other sources are served.
func TestPerSourceBound(t *testing.T) {
	s := plainServer(t, connLimits{total: 10, perSource: 2}, ok)
	a, b := dialFrom(t, s, "127.0.0.2"), dialFrom(t, s, "127.0.0.2")
	waitUntil(t, 30*time.Second, "two connections accepted", func() bool { return s.limited.conns() == 2 })
	dialFrom(t, s, "127.0.0.2").request()
	if !a.closedByServer() {
		t.Fatal("the source's oldest new connection was not closed for its third")
	}
	b.request()
	// Both of the source's connections have sent requests: a third is refused.
	if !dialFrom(t, s, "127.0.0.2").closedByServer() {
		t.Error("a third connection from a source at its bound was not closed")
	}
	dialFrom(t, s, "127.0.0.1").request()
}

// TestDrainAnswersWhatWasSent: once a drain has begun, a request in a handler is
// answered, and so is a request sent on a connection accepted before it (which
// http.Server.Shutdown would read and drop), each with Connection: close; an idle
// connection is closed; and the drain returns once every connection has closed.
func TestDrainAnswersWhatWasSent(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var stopping atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		if stopping.Load() {
			w.Header().Set("Connection", "close")
		}
		_, _ = w.Write([]byte("ok"))
	})
	s := plainServer(t, connLimits{total: 10, perSource: 10}, h)
	idle, inHandler := dialFrom(t, s, "127.0.0.1"), dialFrom(t, s, "127.0.0.1")
	idle.request()
	if _, err := inHandler.c.Write([]byte("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	<-entered
	fresh := dialFrom(t, s, "127.0.0.1")
	waitUntil(t, 30*time.Second, "the new connection accepted", func() bool { return s.limited.conns() == 3 })
	stopping.Store(true)
	drained := make(chan error, 1)
	go func() { drained <- s.drain(time.Minute) }()
	if !idle.closedByServer() {
		t.Error("the idle connection was not closed")
	}
	fresh.send()
	close(release)
	for name, c := range map[string]*testConn{"sent after the drain began": fresh, "in the handler": inHandler} {
		resp, err := c.answer(0)
		if err != nil {
			t.Fatalf("request %s: %v", name, err)
		}
		if resp.StatusCode != http.StatusOK || !resp.Close {
			t.Errorf("request %s: HTTP %d, Connection: close %v; want 200 and close", name, resp.StatusCode, resp.Close)
		}
	}
	if err := <-drained; err != nil {
		t.Errorf("drain: %v", err)
	}
}

// conns is the number of connections the listener holds open.
func (l *listener) conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}
