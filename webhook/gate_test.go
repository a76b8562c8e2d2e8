package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestGate: a review that finds every evaluation slot taken waits; when none frees in
// time it is answered with a 503 naming the bound, as a review with its uid, and one
// that gets a slot is judged as usual. The slot is free again after each review.
func TestGate(t *testing.T) {
	validate, _ := fuzzHooks(t)
	gate := &Gate{slots: make(chan struct{}, 1), budget: 50 * time.Millisecond}
	h := reviewBody(validate, gate)
	serve := func() []byte {
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
		name string
		busy bool
		want string
	}{
		{"every slot taken: refused after the wait", true, reviewError("admission.k8s.io/v1", uid, 503,
			"podguard is overloaded: no evaluation slot freed within --eval-timeout 50ms (--max-evaluations 1)")},
		{"a slot free: judged", false, `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"` + uid + `","allowed":true,"status":{"metadata":{},"code":200}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.busy {
				gate.slots <- struct{}{}
				defer gate.leave()
			}
			start := time.Now()
			assertJSON(t, serve(), tc.want)
			if took := time.Since(start); tc.busy && took < 50*time.Millisecond {
				t.Errorf("answered after %v, before the 50ms wait ended", took)
			}
			if n := len(gate.slots); n != btoi(tc.busy) {
				t.Errorf("%d slots taken after the review, want %d", n, btoi(tc.busy))
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
