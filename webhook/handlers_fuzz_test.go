package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podguard/podguard/policies/engine"
)

var (
	fuzzHooksOnce sync.Once
	fuzzValidate  *admission.Webhook
	fuzzMutate    *admission.Webhook
	fuzzHooksErr  error
)

func fuzzHooks(t *testing.T) (validate, mutate *admission.Webhook) {
	fuzzHooksOnce.Do(func() {
		e, err := engine.Load(t.Context(), engine.Options{})
		if err != nil {
			fuzzHooksErr = err
			return
		}
		var ps PolicySet
		ps.Set(e)
		quiet := func(logr.Logger, *admission.Request) logr.Logger { return logr.Discard() }
		// Panics must reach the fuzzer, not become 500 answers.
		fuzzValidate = (&admission.Webhook{Handler: &Validator{Policies: &ps, EvalTimeout: 5 * time.Second}, LogConstructor: quiet}).WithRecoverPanic(false)
		fuzzMutate = (&admission.Webhook{Handler: &Mutator{Policies: &ps, EvalTimeout: 5 * time.Second}, LogConstructor: quiet}).WithRecoverPanic(false)
	})
	if fuzzHooksErr != nil {
		t.Fatal(fuzzHooksErr)
	}
	return fuzzValidate, fuzzMutate
}

// FuzzAdmissionReview posts arbitrary bodies to both admission handlers through
// controller-runtime's webhook, as the server does. Every body gets an AdmissionReview
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
			wh   *admission.Webhook
		}{{"validate", validate}, {"mutate", mutate}} {
			out := post(t, hook.wh, body)
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
			if r2 := post(t, hook.wh, b).Response; r2 == nil || len(r2.Patch) > 0 && !nullsOnly(t, r2.Patch, patched) {
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

// nullsOnly reports whether every operation of a second patch replaces a resource value
// the object has as JSON null: the known bug of Engine.Mutate that
// engine.TestMutateFillsNull describes (it keeps a null it should fill in).
func nullsOnly(t *testing.T, patch, object []byte) bool {
	var ops []struct {
		Op   string `json:"op"`
		Path string `json:"path"`
	}
	if err := json.Unmarshal(patch, &ops); err != nil {
		t.Fatal(err)
	}
	var obj any
	if err := json.Unmarshal(object, &obj); err != nil {
		return false
	}
	for _, op := range ops {
		if op.Op == "add" && strings.HasSuffix(op.Path, "/annotations/podguard.io~1defaults") {
			continue
		}
		v, ok := pointer(obj, op.Path)
		if op.Op != "replace" || !ok || v != nil || !strings.Contains(op.Path, "/resources/") {
			return false
		}
	}
	return true
}

func pointer(v any, path string) (any, bool) {
	for _, tok := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		case []any:
			i := 0
			for _, c := range tok {
				if c < '0' || c > '9' {
					return nil, false
				}
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}
