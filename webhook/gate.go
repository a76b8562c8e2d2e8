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
//
// Large reviews (estimated above a quarter of a share: 12 MiB at the default 512 MiB,
// where a 100 KB Pod is estimated at up to about 5 MiB) may hold together all the gate but one
// share: however many arrive, ordinary reviews, which the API server sends for every
// Pod, always find that share, and wait only for each other, never behind a large one.
type Gate struct {
	sem *semaphore.Weighted
	// large is the room large reviews may take: all of the gate but one share. A
	// large review takes its room here first, then in sem.
	large *semaphore.Weighted
	// memory is the estimated memory the reviews being judged may take together.
	memory int64
	// share is the least room a review takes: memory / --max-evaluations.
	share  int64
	slots  int
	budget time.Duration
}

func newGate(slots int, memory int64, budget time.Duration) *Gate {
	share := memory / int64(slots)
	return &Gate{
		sem: semaphore.NewWeighted(memory), large: semaphore.NewWeighted(max(memory-share, 0)),
		memory: memory, share: share, slots: slots, budget: budget,
	}
}

// admit enters the gate with the estimated cost of a review of the given shape, after
// refusing an object the API server would never send.
func (g *Gate) admit(ctx context.Context, hook string, shape jsonShape, readsObject bool) (leave func(), err error) {
	if shape.invalid != "" {
		return nil, &invalidObjectError{shape.invalid}
	}
	return g.enter(ctx, shape.cost(hook, readsObject))
}

// invalidObjectError refuses an object that breaks the API server's own validation: it
// is answered with 422, as the API server answers such an object.
type invalidObjectError struct{ reason string }

func (e *invalidObjectError) Error() string {
	return "the object is invalid, and the API server would refuse it: " + e.reason
}

// enter takes room for a review of the given estimated cost, waiting while ctx, which
// carries the review's deadline, allows. leave gives it back.
func (g *Gate) enter(ctx context.Context, cost int64) (leave func(), err error) {
	if cost > g.memory {
		return nil, fmt.Errorf("judging this review would take about %s, more than the %s podguard may use for evaluations (a share of its memory limit, GOMEMLIMIT); raise the container's memory limit", mib(cost), mib(g.memory))
	}
	weight := max(cost, g.share)
	isLarge := g.slots > 1 && cost > g.share/4
	if isLarge && weight > g.memory-g.share {
		// The room left beside the ordinary reviews' share.
		return nil, fmt.Errorf("judging this review would take about %s, more than the %s podguard may use for large reviews (its evaluation memory, a share of its memory limit GOMEMLIMIT, but one --max-evaluations share); raise the container's memory limit", mib(cost), mib(g.memory-g.share))
	}
	start := time.Now()
	if isLarge {
		if err := g.acquire(ctx, g.large, weight, start); err != nil {
			return nil, err
		}
	}
	if err := g.acquire(ctx, g.sem, weight, start); err != nil {
		if isLarge {
			g.large.Release(weight)
		}
		return nil, err
	}
	slotWait.Observe(time.Since(start).Seconds())
	evaluationBytes.Add(float64(weight))
	return func() {
		evaluationBytes.Sub(float64(weight))
		g.sem.Release(weight)
		if isLarge {
			g.large.Release(weight)
		}
	}, nil
}

func (g *Gate) acquire(ctx context.Context, sem *semaphore.Weighted, weight int64, start time.Time) error {
	if sem.TryAcquire(weight) {
		return nil
	}
	if err := sem.Acquire(ctx, weight); err != nil {
		slotWait.Observe(time.Since(start).Seconds())
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("podguard is overloaded: no evaluation slot freed within --eval-timeout %s (--max-evaluations %d, evaluation memory %s)", g.budget, g.slots, mib(g.memory))
		}
		return fmt.Errorf("waiting for an evaluation slot: %w", err)
	}
	return nil
}

// mib formats a byte count for messages and logs, in MiB (KiB below one MiB).
func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
