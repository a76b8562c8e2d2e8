package load

import (
	"errors"
	"testing"
	"time"
)

// TestLatencies: the quantile is the time at index ⌊q·n⌋ of the sorted times, failures
// are counted apart with the first error kept, and the summary says both.
func TestLatencies(t *testing.T) {
	var l Latencies
	for _, ms := range []int{5, 1, 4, 2, 3, 9, 8, 7, 6, 10} {
		l.Times = append(l.Times, time.Duration(ms)*time.Millisecond)
	}
	l.Fail(errors.New("first"))
	l.Fail(errors.New("second"))
	l.Sort()
	for desc, tc := range map[string]struct {
		q    float64
		want time.Duration
	}{
		"p0":  {0, time.Millisecond},
		"p50": {0.5, 6 * time.Millisecond},
		"p99": {0.99, 10 * time.Millisecond},
		"max": {1, 10 * time.Millisecond},
	} {
		if got := l.Quantile(tc.q); got != tc.want {
			t.Errorf("%s: Quantile(%v) = %v, want %v", desc, tc.q, got, tc.want)
		}
	}
	if want := "10 answered, 2 failed; latency p50 6ms, p99 10ms, max 10ms"; l.Summary("answered") != want {
		t.Errorf("Summary = %q, want %q", l.Summary("answered"), want)
	}
	none := Latencies{Failed: 1, FirstError: "refused"}
	if want := "none answered 200, 1 failed (refused)"; none.Summary("answered 200") != want {
		t.Errorf("Summary of none = %q, want %q", none.Summary("answered 200"), want)
	}
	if l.FirstError != "first" || l.Failed != 2 {
		t.Errorf("failed %d, first error %q; want 2, first", l.Failed, l.FirstError)
	}
}
