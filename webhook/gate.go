package webhook

import (
	"context"
	"fmt"
	"time"
)

// Gate bounds how many reviews are decoded, judged and answered at once. Evaluation is
// CPU bound, so running more of them than there are cores finishes none sooner; it only
// multiplies the memory in use (a 100 KB Pod takes about 3 MB while it is judged) and
// with it the work of the garbage collector. A review beyond the bound waits, holding
// only its body, until a slot frees; one that waits longer than wait is answered with an
// error (code 503) instead. A nil Gate is unbounded.
type Gate struct {
	slots chan struct{}
	wait  time.Duration
}

// overloadedKey carries the reason a review got no slot to its handler, which answers
// with it (the handler knows the request's uid).
type overloadedKey struct{}

func (g *Gate) enter(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case g.slots <- struct{}{}:
		slotWait.Observe(0)
		return nil
	default:
	}
	start := time.Now()
	defer func() { slotWait.Observe(time.Since(start).Seconds()) }()
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("podguard is overloaded: no evaluation slot freed within %s (--max-evaluations %d)", g.wait, cap(g.slots))
	case <-ctx.Done():
		return fmt.Errorf("waiting for an evaluation slot: %w", ctx.Err())
	}
}

func (g *Gate) leave() {
	if g != nil {
		<-g.slots
	}
}

// overloaded is the reason the review got no slot, or nil.
func overloaded(ctx context.Context) error {
	err, _ := ctx.Value(overloadedKey{}).(error)
	return err
}
