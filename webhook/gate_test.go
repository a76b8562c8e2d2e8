package webhook

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestGate: a review that finds every evaluation slot taken waits; when none frees in
// time it is answered with a 503 naming the bound, as a review with its uid, and one
// that gets a slot is judged as usual. The slot is free again after each review.
func TestGate(t *testing.T) {
	validate, _ := fuzzHooks(t)
	// The gate's budget is the review's whole deadline: short where the wait must end,
	// the test binary's where the review is judged, however long a busy machine takes.
	var gate *Gate
	serve := func() []byte {
		h := reviewBody(validate, webhookValidate, &PolicySet{}, gate, newBodyBudget(8<<20, time.Second))
		req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(readRequest(t, "pod-create-compliant")))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
		}
		return w.Body.Bytes()
	}
	uid := "00000000-0000-4000-8000-000000000001"

	for _, tc := range []struct {
		name   string
		busy   bool
		budget time.Duration
		want   string
	}{
		{"every slot taken: refused after the wait", true, 50 * time.Millisecond, reviewError("admission.k8s.io/v1", uid, 503,
			"podguard is overloaded: no evaluation slot freed within --eval-timeout 50ms (--max-evaluations 1, evaluation memory 64.0 MiB)")},
		{"a slot free: judged", false, testDeadline, `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"` + uid + `","allowed":true,"status":{"metadata":{},"code":200}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate = newGate(1, 64<<20, tc.budget)
			if tc.busy {
				leave, err := gate.enter(t.Context(), 1)
				if err != nil {
					t.Fatal(err)
				}
				defer leave()
			}
			start := time.Now()
			assertJSON(t, serve(), tc.want)
			if took := time.Since(start); tc.busy && took < 50*time.Millisecond {
				t.Errorf("answered after %v, before the 50ms wait ended", took)
			}
			if free := gate.sem.TryAcquire(1); free == tc.busy {
				t.Errorf("room left after the review: %v, want %v", free, !tc.busy)
			} else if free {
				gate.sem.Release(1)
			}
		})
	}
}

// TestGateWeighsByMemory: small reviews run --max-evaluations at once; a large one takes
// the room of its estimated memory, so fewer run beside it; one larger than the whole
// gate is refused at once, with its uid, and costs no room.
func TestGateWeighsByMemory(t *testing.T) {
	const memory = 100 << 20
	gate := newGate(4, memory, 50*time.Millisecond)
	var leaves []func()
	defer func() {
		for _, leave := range leaves {
			leave()
		}
	}()
	enter := func(cost int64) error {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		leave, err := gate.enter(ctx, cost)
		if err == nil {
			leaves = append(leaves, leave)
		}
		return err
	}
	for i := range 4 {
		if err := enter(1 << 10); err != nil {
			t.Fatalf("small review %d: %v", i, err)
		}
	}
	if err := enter(1 << 10); err == nil || !strings.Contains(err.Error(), "overloaded") {
		t.Errorf("fifth small review: %v, want overloaded", err)
	}
	for _, leave := range leaves {
		leave()
	}
	leaves = nil
	if err := enter(60 << 20); err != nil {
		t.Fatalf("large review: %v", err)
	}
	if err := enter(1 << 10); err != nil {
		t.Errorf("a small review beside the large one: %v", err)
	}
	if err := enter(1 << 10); err == nil {
		t.Error("a second small review fits beside a review of 60% of the gate, want it to wait")
	}

	validate, _ := fuzzHooks(t)
	// A review that waited for room would wait for as long as the test binary runs: being
	// answered at all says it was refused at once.
	h := reviewBody(validate, webhookValidate, &PolicySet{}, newGate(4, 32<<10, testDeadline), newBodyBudget(8<<20, time.Second))
	body := readRequest(t, "pod-create-compliant")
	req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	msg := fmt.Sprintf("judging this review would take about %s, more than the 32 KiB podguard may use for evaluations (a share of its memory limit, GOMEMLIMIT); raise the container's memory limit", mib(estimatedCost(webhookValidate, body, true)))
	assertJSON(t, w.Body.Bytes(), reviewError("admission.k8s.io/v1", "00000000-0000-4000-8000-000000000001", 503, msg))
}

// TestGateKeepsAShareForOrdinaryReviews: large reviews (above a quarter of a share) hold together
// at most all the gate but one share, so an ordinary review finds room however many large
// ones wait; a large review that needs more than that is refused at once.
func TestGateKeepsAShareForOrdinaryReviews(t *testing.T) {
	const memory = 100 << 20 // four shares of 25 MiB
	gate := newGate(4, memory, time.Minute)
	var leaves []func()
	defer func() {
		for _, leave := range leaves {
			leave()
		}
	}()
	enter := func(cost int64, wait time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		defer cancel()
		leave, err := gate.enter(ctx, cost)
		if err == nil {
			leaves = append(leaves, leave)
		}
		return err
	}
	for i := range 2 {
		if err := enter(30<<20, 10*time.Second); err != nil {
			t.Fatalf("large review %d: %v", i, err)
		}
	}
	// 60 MiB held by large reviews: another of 20 MiB would leave less than a share.
	if err := enter(20<<20, 10*time.Millisecond); err == nil || !strings.Contains(err.Error(), "overloaded") {
		t.Errorf("a third large review: %v, want it to wait, then overloaded", err)
	}
	// A quarter of a share is ordinary: it takes the share left.
	if err := enter(25<<20/4, 10*time.Second); err != nil {
		t.Errorf("an ordinary review beside the large ones: %v", err)
	}
	const want = "judging this review would take about 80.0 MiB, more than the 75.0 MiB podguard may use for large reviews (its evaluation memory, a share of its memory limit GOMEMLIMIT, but one --max-evaluations share); raise the container's memory limit"
	if err := enter(80<<20, 10*time.Second); err == nil || err.Error() != want {
		t.Errorf("a review of 80%% of the gate: %v, want %q", err, want)
	}
}
