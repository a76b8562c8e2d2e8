package webhook

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBodyBudget: a body's buffer grows with what arrives, never ahead of a declared
// length; growth past the allowance takes room from the shared budget, waits for it,
// and gives it back.
func TestBodyBudget(t *testing.T) {
	const size = 1 << 20
	b := &bodyBudget{sem: newBodyBudget(size, time.Second).sem, size: size, wait: 100 * time.Millisecond}
	free := func() bool {
		if b.sem.TryAcquire(size) {
			b.sem.Release(size)
			return true
		}
		return false
	}

	t.Run("a body declared at 7 MB that sends 5 bytes holds the first buffer", func(t *testing.T) {
		body, release, err := b.read(t.Context(), strings.NewReader("12345"), 7000000)
		defer release()
		if err != nil || body.String() != "12345" {
			t.Fatalf("read = %q, %v", body, err)
		}
		if size, _ := bufferSize(7000000, 0); size > firstBuffer {
			t.Errorf("first buffer of %d bytes, want at most %d", size, firstBuffer)
		}
		if !free() {
			t.Error("the budget lost room to a body within the allowance")
		}
	})
	t.Run("a body of its declared length ends in a buffer of its size", func(t *testing.T) {
		want := strings.Repeat("x", 300<<10)
		body, release, err := b.read(t.Context(), strings.NewReader(want), int64(len(want)))
		if err != nil || body.String() != want {
			t.Fatalf("read %d bytes, %v", body.Len(), err)
		}
		size := int64(0)
		for size <= int64(len(want)) {
			size, _ = bufferSize(int64(len(want)), size)
		}
		if size != int64(len(want))+1 {
			t.Errorf("buffer of %d bytes for %d", size, len(want))
		}
		if free() {
			t.Error("the body's room beyond the allowance is not taken from the budget")
		}
		release()
		if !free() {
			t.Error("room not given back")
		}
	})
	t.Run("growth waits for room, then is refused as busy", func(t *testing.T) {
		big, releaseBig, err := b.read(t.Context(), strings.NewReader(strings.Repeat("x", 900<<10)), -1)
		if err != nil {
			t.Fatal(err)
		}
		_ = big
		start := time.Now()
		_, release, err := b.read(t.Context(), strings.NewReader(strings.Repeat("y", 200<<10)), -1)
		release()
		if !errors.Is(err, errBusy) || time.Since(start) < 100*time.Millisecond {
			t.Errorf("second body: %v after %v, want busy after the 100ms wait", err, time.Since(start))
		}
		small, release, err := b.read(t.Context(), strings.NewReader("small"), 5)
		release()
		if err != nil || small.String() != "small" {
			t.Errorf("a body within the allowance, with the budget taken: %q, %v", small, err)
		}
		releaseBig()
		body, release, err := b.read(t.Context(), strings.NewReader(strings.Repeat("y", 200<<10)), -1)
		release()
		if err != nil || body.Len() != 200<<10 {
			t.Errorf("after the room was given back: %d bytes, %v", body.Len(), err)
		}
		if !free() {
			t.Error("room not given back after a refusal")
		}
	})
	t.Run("a body at the limit is too large", func(t *testing.T) {
		big := &bodyBudget{sem: newBodyBudget(16<<20, time.Second).sem, size: 16 << 20, wait: time.Second}
		_, release, err := big.read(t.Context(), io.LimitReader(spaces{}, reviewBytesLimit), -1)
		release()
		if !errors.Is(err, errTooLarge) {
			t.Errorf("read = %v, want too large", err)
		}
		body, release, err := big.read(t.Context(), io.LimitReader(spaces{}, reviewBytesLimit-1), -1)
		release()
		if err != nil || body.Len() != reviewBytesLimit-1 {
			t.Errorf("one byte below the limit: %d bytes, %v", body.Len(), err)
		}
	})
}

// TestHeaderOnlyClientsHoldLittle: clients that declare bodies of 7 MB and send 5 bytes
// make podguard hold buffers for what arrived, not for what they declared; a good review
// is answered meanwhile. The bound is on the whole test process, clients included.
func TestHeaderOnlyClientsHoldLittle(t *testing.T) {
	s := startServer(t, t.Context(), Options{ReloadInterval: time.Hour})
	const clients = 100
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range clients {
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port), &tls.Config{RootCAs: s.ca.pool, ServerName: "localhost"})
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 7000000\r\n\r\n{\"a\":"); err != nil {
			t.Fatal(err)
		}
	}
	// The server has read what they sent once each is in its handler, reading its body.
	waitUntil(t, 5*time.Second, "every client's review in its handler", func() bool {
		return metricValue(t, s, `podguard_webhook_requests_in_flight{webhook="validate"}`) >= clients
	})
	s.stillServes(t, "/validate")
	runtime.GC()
	runtime.ReadMemStats(&during)
	held := int64(during.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d clients holding 7 MB declared bodies: %.1f MiB more heap", clients, float64(held)/(1<<20))
	if held > 32<<20 {
		t.Errorf("%d more bytes on the heap, want at most 32 MiB (%d clients declaring 7 MB each)", held, clients)
	}
	if got := metricValue(t, s, "podguard_webhook_connections"); got < clients {
		t.Errorf("podguard_webhook_connections = %v, want at least %d", got, clients)
	}
}
