package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/semaphore"
)

// Gate bounds the reviews decoded, judged and answered at once, by count and by memory.
// Evaluation is CPU bound, so running more of them than there are cores finishes none
// sooner; and its memory grows with the shape of the body (estimatedCost): a compact
// 100 KB Pod takes a few MB, 6 MB of nested JSON several hundred. Each review takes room
// for its estimated memory, at least a --max-evaluations share of the gate, so small
// reviews run --max-evaluations at once and large ones fewer. A review beyond the bound
// waits, holding only its body, in arrival order; the wait counts into its budget
// (--eval-timeout, from the moment its body is in), so a busy podguard still answers
// within it: with an error (code 503) when no room freed in time. A review that would
// need more than the whole gate is refused at once.
type Gate struct {
	sem *semaphore.Weighted
	// memory is the estimated memory the reviews being judged may take together.
	memory int64
	// share is the least room a review takes: memory / --max-evaluations.
	share  int64
	slots  int
	budget time.Duration
}

func newGate(slots int, memory int64, budget time.Duration) *Gate {
	return &Gate{sem: semaphore.NewWeighted(memory), memory: memory, share: memory / int64(slots), slots: slots, budget: budget}
}

// enter takes room for a review of the given estimated cost, waiting while ctx, which
// carries the review's deadline, allows. leave gives it back.
func (g *Gate) enter(ctx context.Context, cost int64) (leave func(), err error) {
	if cost > g.memory {
		return nil, fmt.Errorf("judging this review would take about %s, more than the %s podguard may use for evaluations (a share of its memory limit, GOMEMLIMIT); raise the container's memory limit", mib(cost), mib(g.memory))
	}
	weight := max(cost, g.share)
	start := time.Now()
	if !g.sem.TryAcquire(weight) {
		if err := g.sem.Acquire(ctx, weight); err != nil {
			slotWait.Observe(time.Since(start).Seconds())
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("podguard is overloaded: no evaluation slot freed within --eval-timeout %s (--max-evaluations %d, evaluation memory %s)", g.budget, g.slots, mib(g.memory))
			}
			return nil, fmt.Errorf("waiting for an evaluation slot: %w", err)
		}
	}
	slotWait.Observe(time.Since(start).Seconds())
	evaluationBytes.Add(float64(weight))
	return func() {
		evaluationBytes.Sub(float64(weight))
		g.sem.Release(weight)
	}, nil
}

// mib formats a byte count for messages and logs, in MiB (KiB below one MiB).
func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
