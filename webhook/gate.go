package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Gate bounds how many reviews are decoded, judged and answered at once. Evaluation is
// CPU bound, so running more of them than there are cores finishes none sooner; it only
// multiplies the memory in use (a 100 KB Pod takes about 3 MB while it is judged) and
// with it the work of the garbage collector. A review beyond the bound waits, holding
// only its body, until a slot frees. The wait counts into the review's budget
// (--eval-timeout, from the moment its body is in), so a busy podguard still answers
// within it: with an error (code 503) when no slot freed in time.
type Gate struct {
	slots  chan struct{}
	budget time.Duration
}

// overloadedKey carries the reason a review got no slot to its handler, which answers
// with it (the handler knows the request's uid).
type overloadedKey struct{}

// enter takes a slot, waiting while ctx, which carries the review's deadline, allows.
func (g *Gate) enter(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		slotWait.Observe(0)
		return nil
	default:
	}
	start := time.Now()
	defer func() { slotWait.Observe(time.Since(start).Seconds()) }()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("podguard is overloaded: no evaluation slot freed within --eval-timeout %s (--max-evaluations %d)", g.budget, cap(g.slots))
		}
		return fmt.Errorf("waiting for an evaluation slot: %w", ctx.Err())
	}
}

func (g *Gate) leave() { <-g.slots }

// overloaded is the reason the review got no slot, or nil.
func overloaded(ctx context.Context) error {
	err, _ := ctx.Value(overloadedKey{}).(error)
	return err
}
