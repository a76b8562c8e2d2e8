package webhook

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"unsafe"

	"github.com/podguard/podguard/policies/engine"
)

// reviewSeeds are the fixture reviews and bodies that take decodeRequest off its usual
// path: repeated members, objects that are null or not objects, escaped keys, junk.
func reviewSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{
		"no request":           []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
		"null request":         []byte(`{"request":null}`),
		"request twice":        []byte(`{"request":{"uid":"a"},"request":{"name":"b"}}`),
		"object twice":         []byte(`{"request":{"uid":"a","object":{"kind":"Pod"},"object":{"kind":"Job"}}}`),
		"null objects":         []byte(`{"request":{"uid":"a","object":null,"oldObject":null}}`),
		"old object first":     []byte(`{"request":{"oldObject":{"a":1},"uid":"a","object":{"b":[2]}}}`),
		"object not an object": []byte(`{"request":{"object":"x","oldObject":5}}`),
		"escaped key":          []byte(`{"request":{"obj\u0065ct":{"a":1},"u\u0069d":"x"}}`),
		"key in capitals":      []byte(`{"request":{"Object":{"a":1},"UID":"u"}}`),
		"wrong type":           []byte(`{"request":{"uid":5,"object":{}}}`),
		"malformed object":     []byte(`{"request":{"uid":"u","object":{"a":}}}`),
		"trailing junk":        []byte(`{"request":{"uid":"u","object":{}}} x`),
		"spaces":               []byte(" {\n\"request\" : { \"object\" :\t{ \"a\" : 1 } , \"uid\":\"u\" } }\n"),
	}
	maps.Copy(seeds, allRequests(t))
	return seeds
}

// decodeRequest is readReview, then the decoder for a review that is not plain.
func decodeRequest(body engine.Body, req *Request) error {
	_, plain, err := readReview(body, req)
	if err != nil || plain {
		return err
	}
	return decodeWhole(body, req)
}

// FuzzDecodeRequest: decodeRequest gives what the decoder gives when it decodes the
// whole review, for any body: the same request, or an error when it errs.
func FuzzDecodeRequest(f *testing.F) {
	for _, body := range reviewSeeds(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got, want Request
		gotErr, wantErr := decodeRequest(engine.BodyOf(body), &got), decodeWhole(engine.BodyOf(body), &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%s: decodeRequest error %v, the decoder's %v", body, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ndecodeRequest %+v\nthe decoder   %+v", body, got, want)
		}
	})
}

// TestDecodeRequestReadsObjectsInPlace: a review's objects are its body's own text, not
// copies of it.
func TestDecodeRequestReadsObjectsInPlace(t *testing.T) {
	body := engine.BodyOf(reviewSeeds(t)["old object first"])
	var req Request
	if err := decodeRequest(body, &req); err != nil {
		t.Fatal(err)
	}
	if req.Object.String() != `{"b":[2]}` || req.OldObject.String() != `{"a":1}` || req.UID != "a" {
		t.Fatalf("request %+v", req)
	}
	text := body.String()
	start, end := unsafe.StringData(text), unsafe.Add(unsafe.Pointer(unsafe.StringData(text)), len(text))
	for _, o := range []engine.Body{req.Object, req.OldObject} {
		if p := unsafe.Pointer(unsafe.StringData(o.String())); uintptr(p) < uintptr(unsafe.Pointer(start)) || uintptr(p) >= uintptr(end) {
			t.Errorf("the object %s is a copy, not the body's text", o)
		}
	}
}

// TestReviewDepthLimit: a review nested as deep as podguard reads is read, one level
// deeper is refused with where.
func TestReviewDepthLimit(t *testing.T) {
	review := func(depth int) engine.Body {
		// The review, its request and the object are three levels.
		n := depth - 3
		return engine.BodyOf([]byte(`{"request":{"uid":"u","object":{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}}}`))
	}
	var req Request
	if _, plain, err := readReview(review(reviewDepthLimit), &req); err != nil || !plain || req.UID != "u" {
		t.Errorf("a review %d deep: plain %v, uid %q, error %v", reviewDepthLimit, plain, req.UID, err)
	}
	body := review(reviewDepthLimit + 1)
	_, _, err := readReview(body, &req)
	want := fmt.Sprintf("invalid JSON at offset %d: nested more than %d deep", strings.Index(body.String(), "[")+reviewDepthLimit-3, reviewDepthLimit)
	if err == nil || err.Error() != want {
		t.Errorf("a review %d deep: error %v, want %q", reviewDepthLimit+1, err, want)
	}
}

// BenchmarkDecodeRequest: decoding the bench's reviews in place (which counts their
// shape for the cost estimate too) and by the decoder alone; and the pass that counts a
// review's shape alone, for one that is not plain.
func BenchmarkDecodeRequest(b *testing.B) {
	for _, name := range []string{"pod-violating.json", "pod-100k.json"} {
		body, err := os.ReadFile(filepath.Join("..", "test", "bench", "bodies", name))
		if err != nil {
			b.Fatal(err)
		}
		text := engine.BodyOf(body)
		for desc, decode := range map[string]func(engine.Body) error{
			"in place": func(body engine.Body) error { var req Request; return decodeRequest(body, &req) },
			"whole":    func(body engine.Body) error { var req Request; return decodeWhole(body, &req) },
		} {
			b.Run(name+"/"+desc, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if err := decode(text); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(name+"/cost", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := shapeOf(text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
