package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// handleFunc decides one admission request: the whole interface between the HTTP layer
// and the handlers (Validator.Handle, Mutator.Handle).
type handleFunc func(context.Context, Request) admission.Response

// hook serves one admission webhook path. podguard owns this HTTP layer rather than
// controller-runtime's Webhook.ServeHTTP, which reads the body whole without a shared
// budget and decodes every review twice, before anything could bound the cost: here a
// body is read within the body budget, the review waits for room in the gate before it
// is decoded, and it is decoded once. From controller-runtime podguard keeps the
// admission types and their answer constructors (admission.Allowed, Denied, Errored).
type hook struct {
	name     string // webhookValidate or webhookMutate
	handle   handleFunc
	policies *PolicySet
	gate     *Gate
	bodies   *bodyBudget
	log      logr.Logger
	// recoverPanic turns a handler's panic into a 500 answer; off only for fuzzing.
	recoverPanic bool
	inFlight     prometheus.Gauge
	duration     prometheus.Observer
}

func newHook(name string, handle handleFunc, policies *PolicySet, gate *Gate, bodies *bodyBudget, log logr.Logger) *hook {
	return &hook{name: name, handle: handle, policies: policies, gate: gate, bodies: bodies, log: log.WithName("admission"), recoverPanic: true,
		inFlight: requestsInFlight.WithLabelValues(name), duration: requestDuration.WithLabelValues(name)}
}

// ServeHTTP answers every call with an AdmissionReview (HTTP 200, the error in its
// status), so that the API server shows the message. A body declared too large is
// refused before it is read, and one that turns out too large is not read past the
// limit; the buffer grows as bytes arrive, within the body budget.
func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.inFlight.Inc()
	code := h.serve(w, r)
	h.inFlight.Dec()
	requests.WithLabelValues(h.name, codeLabel(code)).Inc()
	h.duration.Observe(time.Since(start).Seconds())
}

// serve answers the call and returns the status code of its answer.
func (h *hook) serve(w http.ResponseWriter, r *http.Request) int32 {
	w.Header().Set("Content-Type", "application/json")
	v1 := admissionv1.SchemeGroupVersion.String()
	// Checked before the body is read, which is then not worth reading.
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return h.writeError(w, v1, "", http.StatusBadRequest, fmt.Errorf("Content-Type %q is not application/json", ct))
	}
	if r.ContentLength >= reviewBytesLimit {
		return h.writeError(w, v1, "", http.StatusRequestEntityTooLarge, errTooLarge)
	}
	body, release, err := h.bodies.read(r.Context(), r.Body, r.ContentLength)
	defer release()
	switch {
	case errors.Is(err, errTooLarge):
		return h.writeError(w, v1, "", http.StatusRequestEntityTooLarge, errTooLarge)
	case errors.Is(err, errBusy):
		return h.writeError(w, v1, "", http.StatusServiceUnavailable, err)
	case err != nil:
		return h.writeError(w, v1, "", http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err))
	case body.Empty():
		return h.writeError(w, v1, "", http.StatusBadRequest, errors.New("request body is empty"))
	}
	apiVersion, kind, isObject := peekType(body)
	switch {
	case !isObject:
		return h.writeError(w, v1, "", http.StatusBadRequest, errors.New("the request body is not a JSON object"))
	case kind != "" && kind != "AdmissionReview":
		return h.writeError(w, v1, "", http.StatusBadRequest, fmt.Errorf("the body is a %s %s, not an AdmissionReview", apiVersion, kind))
	case apiVersion == "admission.k8s.io/v1beta1":
		// podguard registers for v1 only; an older API server or a configuration that
		// lists v1beta1 gets this message, in its version, rather than a verdict in a
		// version not tested.
		uid, _ := requestOf(body)
		return h.writeError(w, apiVersion, uid, http.StatusBadRequest, fmt.Errorf("AdmissionReview %s is not served: podguard reads %s (admissionReviewVersions: [v1] in the webhook configuration)", apiVersion, v1))
	case apiVersion != "" && apiVersion != v1:
		uid, _ := requestOf(body)
		return h.writeError(w, v1, uid, http.StatusBadRequest, fmt.Errorf("AdmissionReview %s is not served: podguard reads %s", apiVersion, v1))
	}
	// Read in place before the gate: that costs next to nothing, and gives the shape the
	// gate weighs the review by.
	var req Request
	shape, plain, err := readReview(body, &req)
	if err != nil {
		return h.writeError(w, v1, "", http.StatusBadRequest, notAReview(err))
	}
	// The review's budget starts once its body is in, and the gate is entered only then:
	// a client trickling its body in must not hold a slot. The handlers' evaluation
	// deadline falls within this one.
	ctx, cancel := context.WithTimeout(logf.IntoContext(r.Context(), h.log), h.gate.budget)
	defer cancel()
	readsObject := true
	if e := h.policies.Get(); e != nil {
		readsObject = e.ReadsObject()
	}
	leave, err := h.gate.admit(ctx, h.name, shape, readsObject)
	if err != nil {
		// Answered with its uid, so the API server reads it as podguard's answer
		// (which refuses the request under either failurePolicy), not as a broken
		// call: 503, or 422 for an object the API server would refuse itself.
		code := int32(http.StatusServiceUnavailable)
		if invalid := (*invalidObjectError)(nil); errors.As(err, &invalid) {
			code = http.StatusUnprocessableEntity
		}
		uid, op := req.UID, req.Operation
		if !plain {
			uid, op = requestOf(body)
		}
		h.log.Error(err, "request refused", "code", code, "uid", uid)
		decisions.WithLabelValues(h.name, operationLabel(op), "error").Inc()
		return h.writeError(w, v1, uid, code, err)
	}
	defer leave()
	if !plain {
		if err := decodeWhole(body, &req); err != nil {
			return h.writeError(w, v1, "", http.StatusBadRequest, notAReview(err))
		}
	}
	resp := h.decide(ctx, req)
	return h.write(w, v1, &resp.AdmissionResponse)
}

// notAReview is the error of a body that is not an AdmissionReview podguard reads.
func notAReview(err error) error {
	return fmt.Errorf("the request body is not a valid AdmissionReview: %w", err)
}

// decide runs the handler and completes its answer with the request's uid, as the API
// server requires.
func (h *hook) decide(ctx context.Context, req Request) (resp admission.Response) {
	if h.recoverPanic {
		defer func() {
			if p := recover(); p != nil {
				h.log.Error(fmt.Errorf("panic: %v", p), "request failed", "uid", req.UID)
				decisions.WithLabelValues(h.name, operationLabel(req.Operation), "error").Inc()
				resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("panic: %v [recovered]", p))
				resp.UID = req.UID
			}
		}()
	}
	resp = h.handle(ctx, req)
	if err := resp.Complete(req.Request); err != nil {
		resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding the answer: %w", err))
		resp.UID = req.UID
	}
	return resp
}

// writeError answers with an error as an AdmissionReview of the given version.
func (h *hook) writeError(w http.ResponseWriter, apiVersion string, uid types.UID, code int32, err error) int32 {
	resp := admission.Errored(code, err)
	resp.UID = uid
	return h.write(w, apiVersion, &resp.AdmissionResponse)
}

// write answers with the response in an AdmissionReview of the given version, and
// returns its status code.
func (h *hook) write(w http.ResponseWriter, apiVersion string, resp *admissionv1.AdmissionResponse) int32 {
	out := admissionv1.AdmissionReview{Response: resp}
	out.APIVersion, out.Kind = apiVersion, "AdmissionReview"
	if err := json.NewEncoder(w).Encode(out); err != nil {
		h.log.Info("the answer could not be written", "error", err.Error())
	}
	if resp.Result == nil {
		return http.StatusOK
	}
	return resp.Result.Code
}

// codeLabel is the code label of podguard_webhook_requests_total: the status code of the
// answer, from a small fixed set.
func codeLabel(code int32) string {
	switch code {
	case 200, 400, 403, 413, 500, 503:
		return fmt.Sprint(code)
	}
	return "other"
}
