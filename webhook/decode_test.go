package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podguard/podguard/policies/engine"
)

// TestHookAnswersAsServeHTTP: for every review the tests send, and reviews decoded
// oddly (no request, a null one, a field in capitals), the hook answers exactly what
// controller-runtime's Webhook.ServeHTTP answers for the same handler, byte for byte.
// (Bodies that do not decode get podguard's own messages: TestBadInput.)
func TestHookAnswersAsServeHTTP(t *testing.T) {
	validate, mutate := fuzzHooks(t)
	bodies := map[string][]byte{
		"no request":        []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
		"null request":      []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`),
		"field in capitals": []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"UID":"u","operation":"DELETE"}}`),
	}
	maps.Copy(bodies, allRequests(t))
	delete(bodies, "malformed.json") // truncated: TestBadInput
	for desc, body := range bodies {
		for hook, wh := range map[string]*testHook{"validate": validate, "mutate": mutate} {
			want := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/"+hook, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			(&admission.Webhook{Handler: asControllerRuntimes(wh.handle), LogConstructor: quiet}).ServeHTTP(want, req)

			got := httptest.NewRecorder()
			req = httptest.NewRequest(http.MethodPost, "/"+hook, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			served(hook, wh).ServeHTTP(got, req)
			if !bytes.Equal(patchSorted(t, got.Body.Bytes()), patchSorted(t, want.Body.Bytes())) {
				t.Errorf("%s on /%s:\nhook      %s\nServeHTTP %s", desc, hook, got.Body.Bytes(), want.Body.Bytes())
			}
		}
	}
}

// asControllerRuntimes is handle as a controller-runtime admission.Handler, which is given
// the request with its objects as RawExtensions.
func asControllerRuntimes(handle handleFunc) admission.HandlerFunc {
	return func(ctx context.Context, req admission.Request) admission.Response {
		r := Request{Request: req, Object: engine.BodyOf(req.Object.Raw), OldObject: engine.BodyOf(req.OldObject.Raw)}
		r.AdmissionRequest.Object.Raw, r.AdmissionRequest.OldObject.Raw = nil, nil
		return handle(ctx, r)
	}
}

func quiet(logr.Logger, *admission.Request) logr.Logger { return logr.Discard() }

// patchSorted is an answer with its JSON patch's operations in path order: the patch is
// computed from maps, whose order varies from one answer to the next.
func patchSorted(t *testing.T, answer []byte) []byte {
	t.Helper()
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(answer, &review); err != nil || review.Response == nil || len(review.Response.Patch) == 0 {
		return answer
	}
	var ops []map[string]any
	if err := json.Unmarshal(review.Response.Patch, &ops); err != nil {
		t.Fatalf("patch: %v", err)
	}
	sort.Slice(ops, func(i, j int) bool { return fmt.Sprint(ops[i]["path"]) < fmt.Sprint(ops[j]["path"]) })
	var err error
	if review.Response.Patch, err = json.Marshal(ops); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
