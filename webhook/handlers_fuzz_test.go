package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/podguard/podguard/policies/engine"
)

var (
	fuzzHooksOnce sync.Once
	fuzzValidate  *testHook
	fuzzMutate    *testHook
	fuzzHooksErr  error
)

func fuzzHooks(t *testing.T) (validate, mutate *testHook) {
	fuzzHooksOnce.Do(func() {
		e, err := engine.Load(t.Context(), engine.Options{})
		if err != nil {
			fuzzHooksErr = err
			return
		}
		var ps PolicySet
		ps.Set(e)
		// Panics must reach the fuzzer, not become 500 answers.
		fuzzValidate = &testHook{handle: (&Validator{Policies: &ps, EvalTimeout: testDeadline}).Handle}
		fuzzMutate = &testHook{handle: (&Mutator{Policies: &ps, EvalTimeout: testDeadline}).Handle}
	})
	if fuzzHooksErr != nil {
		t.Fatal(fuzzHooksErr)
	}
	return fuzzValidate, fuzzMutate
}

// FuzzAdmissionReview posts arbitrary bodies to both admission handlers through their
// hooks, as the server does. Every body gets an AdmissionReview
// answer: an allowed one carries no error code, a refused one says why; a request with
// a uid gets it back. A patch from /mutate applies to the object it was computed for,
// and the patched object needs no further patch.
func FuzzAdmissionReview(f *testing.F) {
	for _, dir := range []string{"testdata/requests", "../test/bench/bodies"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{"", "{}", "null", "[]", `{"request":null}`, `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":{"kind":"Pod"}}}`,
		`{"request":{"uid":"u","operation":"CREATE","kind":{"kind":"Pod"},"object":null}}`, `{"request":{"uid":"u","operation":"UPDATE","object":{"kind":"Pod","spec":{}},"oldObject":{"kind":"Pod","spec":"x"}}}`,
		`{"request":{"uid":"u","operation":"CREATE","kind":{"kind":"Pod"},"namespace":"default","object":{"kind":"Pod","spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"abc"}}}]}}}}`,
		`{"request":{"uid":"u","operation":"CREATE","object":{"kind":"Pod"}}`, `{"request":{"uid":"u","operation":"CREATE","object":{"kind":"Pod","spec":{"containers":[[[[[[[[]]]]]]]]}}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		validate, mutate := fuzzHooks(t)
		var in admissionv1.AdmissionReview
		parsed := json.Unmarshal(body, &in) == nil && in.Request != nil

		for _, hook := range []struct {
			name string
			wh   *testHook
		}{{"validate", validate}, {"mutate", mutate}} {
			out := post(t, served(hook.name, hook.wh), body)
			r := out.Response
			if r == nil {
				t.Fatalf("%s: no response in the answer", hook.name)
			}
			if r.Allowed && r.Result != nil && r.Result.Code >= 400 {
				t.Fatalf("%s: allowed with error code %d: %s", hook.name, r.Result.Code, r.Result.Message)
			}
			if !r.Allowed && (r.Result == nil || r.Result.Message == "") {
				t.Fatalf("%s: refused without a message", hook.name)
			}
			if parsed && in.Request.UID != "" && r.UID != in.Request.UID {
				t.Fatalf("%s: answered uid %q for request uid %q", hook.name, r.UID, in.Request.UID)
			}
			if hook.name != "mutate" || len(r.Patch) == 0 {
				continue
			}
			// The patch applies to the object it came from, and the result needs nothing more.
			patch, err := jsonpatch.DecodePatch(r.Patch)
			if err != nil {
				t.Fatalf("mutate: patch does not decode: %v\n%s", err, r.Patch)
			}
			patched, err := patch.Apply(in.Request.Object.Raw)
			if err != nil {
				t.Fatalf("mutate: patch does not apply: %v\npatch %s\nobject %s", err, r.Patch, in.Request.Object.Raw)
			}
			again := in
			again.Request = in.Request.DeepCopy()
			again.Request.Object.Raw = patched
			again.Request.Object.Object = nil
			b, err := json.Marshal(again)
			if err != nil {
				t.Fatal(err)
			}
			r2 := post(t, served(hook.name, hook.wh), b).Response
			if r2 == nil {
				t.Fatalf("mutate: no response for the patched object")
			}
			if len(r2.Patch) > 0 {
				t.Fatalf("mutate: the patched object gets another patch: %s\nobject %s", r2.Patch, patched)
			}
		}
	})
}

func post(t *testing.T, wh http.Handler, body []byte) admissionv1.AdmissionReview {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	wh.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("the answer is not an AdmissionReview: %v\n%s", err, w.Body.String())
	}
	return out
}
