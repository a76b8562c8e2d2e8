package load

import (
	"fmt"
	"slices"
	"time"
)

// Latencies are the times of requests a load generator sends one at a time (outside Run),
// with the failures counted apart: what it reports alone and under load.
type Latencies struct {
	// Times are sorted once Sort is called.
	Times      []time.Duration
	Failed     int
	FirstError string
}

// Fail counts a failed request and keeps the first error.
func (l *Latencies) Fail(err error) {
	l.Failed++
	if l.FirstError == "" {
		l.FirstError = err.Error()
	}
}

// Sort sorts Times, for Quantile and Max.
func (l *Latencies) Sort() { slices.Sort(l.Times) }

// Quantile is the time at q (0..1) of the sorted Times: the one at index ⌊q·n⌋, 0 when
// there are none.
func (l Latencies) Quantile(q float64) time.Duration {
	if len(l.Times) == 0 {
		return 0
	}
	return l.Times[min(len(l.Times)-1, int(q*float64(len(l.Times))))]
}

// Max is the longest of the sorted Times.
func (l Latencies) Max() time.Duration { return l.Quantile(1) }

// Summary says how many requests were answered (what names them, e.g. "answered") and
// failed, and the p50, p99 and max of the answered ones to 100 µs.
func (l Latencies) Summary(answered string) string {
	if len(l.Times) == 0 {
		return fmt.Sprintf("none %s, %d failed (%s)", answered, l.Failed, l.FirstError)
	}
	return fmt.Sprintf("%d %s, %d failed; latency p50 %s, p99 %s, max %s", len(l.Times), answered, l.Failed,
		l.Quantile(0.5).Round(100*time.Microsecond), l.Quantile(0.99).Round(100*time.Microsecond), l.Max().Round(100*time.Microsecond))
}
