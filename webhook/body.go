package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/podguard/podguard/policies/engine"
)

// reviewBytesLimit is controller-runtime's: a body must be smaller than 7 MiB, room for
// the two objects of an UPDATE of up to 3 MiB each.
const reviewBytesLimit = 7 << 20

// bodyAllowance is what every body may take without asking the budget: the API server's
// reviews of ordinary Pods fit in it, so they never wait behind large ones. Its total is
// bounded by the connection limit.
const bodyAllowance = 32 << 10

// firstBuffer is the buffer a body starts with; it doubles each time it fills.
const firstBuffer = 8 << 10

var errTooLarge = fmt.Errorf("request body is too large: it must be smaller than 7 MiB (%d bytes)", reviewBytesLimit)

// bodyBudget bounds the memory of the review bodies being read and held, across all
// requests. A body's buffer grows as its bytes arrive, never ahead of them on a declared
// Content-Length: a client that declares 7 MB and sends 5 bytes holds 5 bytes' worth of
// buffer, not 7 MB. Growth past bodyAllowance takes room from the budget, waiting for it
// while the read timeout allows; the room is given back when the review is answered.
type bodyBudget struct {
	sem  *semaphore.Weighted
	size int64
	// wait bounds the wait for room: the read timeout, which would cut the read anyway.
	wait time.Duration
}

func newBodyBudget(size int64, wait time.Duration) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(size), size: size, wait: wait}
}

// errBodyTimeout is the read deadline of the connection passing mid-body.
var errBodyTimeout = errors.New("the request body did not arrive within the read timeout")

// read reads r to its end. declared is the Content-Length, -1 when unknown; it only
// sizes the last growth, so the buffer ends up the body's size. release gives the
// buffer's room back; it must be called once the body is no longer used, also after an
// error.
func (b *bodyBudget) read(ctx context.Context, r io.Reader, declared int64) (body engine.Body, release func(), err error) {
	var held int64
	release = func() {
		if held > 0 {
			bufferedBytes.Sub(float64(held))
			b.sem.Release(held)
			held = 0
		}
	}
	body, err = engine.ReadBody(r, func(capacity int) (int, error) {
		next, err := bufferSize(declared, int64(capacity))
		if err != nil {
			return 0, err
		}
		if need := next - bodyAllowance - held; need > 0 {
			if err := b.take(ctx, need); err != nil {
				return 0, err
			}
			held += need
			bufferedBytes.Add(float64(need))
		}
		return int(next), nil
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errBodyTimeout
	}
	return body, release, err
}

// bufferSize is the capacity of a body's buffer after one of capacity (0 at first) is
// full. The first fits most reviews; each next one doubles, up to the limit. A declared
// length gets one byte more, so that the body's end is seen without growing again.
func bufferSize(declared, capacity int64) (int64, error) {
	switch {
	case capacity == 0 && declared >= 0 && declared < firstBuffer:
		return declared + 1, nil
	case capacity == 0:
		return firstBuffer, nil
	case capacity >= reviewBytesLimit:
		return 0, errTooLarge
	}
	next := 2 * capacity
	if declared >= capacity && declared+1 < next {
		next = declared + 1
	}
	return min(next, reviewBytesLimit), nil
}

// take waits for n bytes of room.
func (b *bodyBudget) take(ctx context.Context, n int64) error {
	if b.sem.TryAcquire(n) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if err := b.sem.Acquire(ctx, n); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: other reviews hold the %s podguard may buffer for bodies (a share of its memory limit, GOMEMLIMIT), and none freed room within the read timeout", errBusy, mib(b.size))
		}
		return err
	}
	return nil
}

// errBusy marks a refusal for lack of memory, answered with 503.
var errBusy = errors.New("podguard is busy")
