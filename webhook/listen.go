package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// connLimits bound the connections of one port. Each connection holds memory (TLS state,
// buffers, headers, the start of a body), so total bounds what idle or slow clients can
// make podguard hold. A connection is new until the headers of its first request are in.
// When every slot is taken, the oldest new connection of the source holding the most
// connections is closed for the one arriving: so connections that never finish a
// handshake or never send a request cannot keep the API server out, whose connections
// send their request right after the handshake. Connections that have sent a request are
// never closed for room. (A new connection is not closed on a timer of its own: under
// CPU starvation that cut requests already on their way; the server's handshake and
// header timeouts close the silent ones.) perSource bounds the connections of one source address: beyond it, that
// source's oldest new connection makes room, or the arriving one is closed.
type connLimits struct {
	total, perSource int
}

// listener is a net.Listener that keeps to connLimits and tracks its connections'
// states (from the http.Server's ConnState hook), so that a drain can close the idle
// ones without cutting a request already on the wire.
type listener struct {
	net.Listener
	limits connLimits
	open   prometheus.Gauge // nil when not counted

	mu      sync.Mutex
	sources map[string]*source
	all     map[*conn]struct{}
	closed  bool
	// freed receives when a slot frees or the listener closes; changed when a
	// connection closes or becomes idle (the drain waits on it).
	freed, changed chan struct{}
}

// source is what one remote address holds.
type source struct {
	conns int
	fresh []*conn // its new connections, oldest first
}

func newListener(ln net.Listener, limits connLimits, open prometheus.Gauge) *listener {
	return &listener{
		Listener: ln, limits: limits, open: open, sources: map[string]*source{}, all: map[*conn]struct{}{},
		freed: make(chan struct{}, 1), changed: make(chan struct{}, 1),
	}
}

// metricsConnections bounds the connections to /metrics.
const metricsConnections = 64

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Accept accepts a connection, then takes a slot for it: a free one, else the slot of
// a new connection closed for it, else it waits for one to free (then further
// connections wait in the kernel's queue).
func (l *listener) Accept() (net.Conn, error) {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c, err := l.admit(raw)
		if c != nil || err != nil {
			return c, err
		}
	}
}

// admit takes a slot for an accepted connection; nil (and the connection closed) when
// its source is at its bound and has no new connection to give up.
func (l *listener) admit(raw net.Conn) (*conn, error) {
	addr := raw.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sources[addr]
	if s != nil && s.conns >= l.limits.perSource {
		if len(s.fresh) == 0 {
			l.closedFor("per-source")
			raw.Close()
			return nil, nil
		}
		l.evict(s.fresh[0], "per-source")
	}
	for len(l.all) >= l.limits.total {
		if v := l.victim(); v != nil {
			l.evict(v, "room")
			break
		}
		l.mu.Unlock()
		<-l.freed
		l.mu.Lock()
		if l.closed {
			raw.Close()
			return nil, net.ErrClosed
		}
	}
	if s = l.sources[addr]; s == nil {
		s = &source{}
		l.sources[addr] = s
	}
	c := &conn{Conn: raw, l: l, addr: addr, src: s}
	s.conns++
	s.fresh = append(s.fresh, c)
	l.all[c] = struct{}{}
	if l.open != nil {
		l.open.Inc()
	}
	return c, nil
}

// victim is the oldest new connection of the source holding the most connections that
// has one; nil when no connection is new.
func (l *listener) victim() *conn {
	var best *source
	for _, s := range l.sources {
		if len(s.fresh) > 0 && (best == nil || s.conns > best.conns) {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	return best.fresh[0]
}

// evict closes a new connection and frees its slot at once; its own Close later
// changes nothing.
func (l *listener) evict(c *conn, reason string) {
	l.drop(c)
	l.closedFor(reason)
	c.Conn.Close()
}

// drop forgets a connection and frees its slot, once; l.mu is held.
func (l *listener) drop(c *conn) {
	if c.gone {
		return
	}
	c.gone = true
	c.src.conns--
	c.unfresh()
	delete(l.all, c)
	l.forget(c.addr, c.src)
	if l.open != nil {
		l.open.Dec()
	}
	signal(l.freed)
	signal(l.changed)
}

// closedFor counts a connection closed before its first request, on the webhook port.
func (l *listener) closedFor(reason string) {
	if l.open != nil {
		closedConnections.WithLabelValues(reason).Inc()
	}
}

func (l *listener) forget(addr string, s *source) {
	if s.conns == 0 {
		delete(l.sources, addr)
	}
}

// Close stops accepting; open connections stay.
func (l *listener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	signal(l.freed)
	return l.Listener.Close()
}

// connState is the http.Server's ConnState hook.
func (l *listener) connState(nc net.Conn, state http.ConnState) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateActive:
		if !c.gone {
			c.unfresh()
		}
		c.idle = false
	case http.StateIdle:
		c.idle = true
		c.read.Store(false)
		signal(l.changed)
	}
}

// closeIdle ends the idle connections on which no byte of a next request has arrived,
// and reports how many connections are open. A connection whose next request is on its
// way is left to be served. The drain calls it once the listener is closed.
func (l *listener) closeIdle() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.all {
		if c.idle && !c.read.Load() {
			c.ending.Store(true)
			// Wakes the server's wait for a next request, which then closes the
			// connection; see SetReadDeadline.
			_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
		}
	}
	return len(l.all)
}

// conn is a connection that frees its slot when closed.
type conn struct {
	net.Conn
	l    *listener
	addr string
	src  *source
	// Guarded by l.mu.
	gone, idle bool
	// read is set when bytes arrive after the connection went idle; ending is set
	// when a drain ends the idle connection, after which the server's read deadlines
	// are not taken unless a request arrived meanwhile.
	read   atomic.Bool
	ending atomic.Bool
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.read.Store(true)
	}
	return n, err
}

// SetReadDeadline is ignored once a drain ended the idle connection, unless a request
// arrived in the meantime: then the server's deadline for reading it stands.
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.ending.Load() && !c.read.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.l.mu.Lock()
	c.l.drop(c)
	c.l.mu.Unlock()
	return err
}

// unfresh takes the connection off its source's new ones; l.mu is held.
func (c *conn) unfresh() {
	if i := slices.Index(c.src.fresh, c); i >= 0 {
		c.src.fresh = slices.Delete(c.src.fresh, i, i+1)
	}
}

// httpServer is one of podguard's ports.
type httpServer struct {
	name string
	url  string
	srv  *http.Server
	ln   net.Listener
	// limited is ln when the port's connections are bounded, else nil.
	limited *listener
}

// listenHTTP binds addr now, so that a taken port fails start-up; with cfg, it serves
// HTTPS, and with limits, its connections are bounded. Idle connections are closed after
// a minute unless the caller sets other timeouts.
func listenHTTP(ctx context.Context, name, addr string, h http.Handler, cfg *tls.Config, limits *connLimits) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s server: %w", name, err)
	}
	s := &httpServer{name: name, url: "http://" + ln.Addr().String(), ln: ln}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
		// Every connection may hold this much, so it counts in the memory bound.
		MaxHeaderBytes: maxHeaderBytes,
		// net/http reports refused handshakes and cut connections here; through the
		// logger they stay structured log lines.
		ErrorLog: stdlog.New(logWriter{logf.FromContext(ctx).WithName("http")}, "", 0),
	}
	if limits != nil {
		open := openConnections
		if name != "webhook" {
			open = nil
		}
		s.limited = newListener(ln, *limits, open)
		s.ln = s.limited
		s.srv.ConnState = s.limited.connState
	}
	if cfg != nil {
		// HTTP/1.1 only: see Options.tlsConfig.
		var protocols http.Protocols
		protocols.SetHTTP1(true)
		s.srv.Protocols = &protocols
		s.ln = tls.NewListener(s.ln, cfg)
		s.url = "https://" + ln.Addr().String()
	}
	return s, nil
}

const maxHeaderBytes = 16 << 10

// serve serves until the listener closes.
func (s *httpServer) serve() error {
	err := s.srv.Serve(s.ln)
	if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("%s server: %w", s.name, err)
}

// drain stops accepting and waits until every open connection has closed: each request
// read, or on the wire, is answered (the handler adds Connection: close, so the
// connection then closes); idle connections with nothing on the wire are closed; new
// ones send their request or are cut by the handshake and header timeouts.
// http.Server.Shutdown is
// not used for this: a request it reads once shutdown has begun is dropped unanswered,
// and it closes idle connections on which a request may be arriving. After timeout,
// what is still open is cut.
func (s *httpServer) drain(timeout time.Duration) error {
	_ = s.ln.Close()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		open := s.limited.closeIdle()
		if open == 0 {
			// Nothing is left to close; the server's listener is closed already.
			_ = s.srv.Close()
			return nil
		}
		select {
		case <-s.limited.changed:
		case <-deadline.C:
			_ = s.srv.Close()
			return fmt.Errorf("%s server: draining: %d connections still open after %s, closed", s.name, open, timeout)
		}
	}
}

// close ends a server that needs no drain (probes, scrapes): requests in flight get a
// few seconds.
func (s *httpServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	_ = s.ln.Close()
}
