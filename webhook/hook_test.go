package webhook

import (
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// reviewBody is the hook that serves wh's handler as the server does, with the given
// gate and body budget, logging nowhere; a panic reaches the caller when wh says not to
// recover it (the fuzz targets).
func reviewBody(wh *testHook, name string, policies *PolicySet, gate *Gate, bodies *bodyBudget) http.Handler {
	h := newHook(name, wh.handle, policies, gate, bodies, logr.Discard())
	h.recoverPanic = wh.recoverPanic
	return h
}

// testHook is a handler as the tests serve it, and whether the hook recovers its panics.
type testHook struct {
	handle       handleFunc
	recoverPanic bool
}

// served is wh's handler behind a hook with room for any review.
func served(name string, wh *testHook) http.Handler {
	return reviewBody(wh, name, &PolicySet{}, newGate(1, 8<<30, time.Minute), newBodyBudget(64<<20, time.Minute))
}
