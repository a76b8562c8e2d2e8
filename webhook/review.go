package webhook

import (
	"errors"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	kjson "sigs.k8s.io/json"

	"github.com/podguard/podguard/policies/engine"
)

// Request is an admission request as podguard reads it from a review's body. Its objects
// are slices of that body, which the engine reads in place; the RawExtensions of the
// embedded request stay empty.
type Request struct {
	admission.Request
	Object, OldObject engine.Body
}

// reviewDepthLimit bounds the nesting of a review podguard reads. The API server sends
// typed objects, whose deepest field (managedFields' fieldsV1 mirroring a CronJob's pod
// template) is about 40 levels down; a reader of 10,000 levels, encoding/json's, would
// let a 20 KB body take 4 MiB of stack before the gate weighs it.
const reviewDepthLimit = 256

// newReader reads a review's body, up to reviewDepthLimit.
func newReader(body engine.Body) *engine.Reader {
	r := engine.NewReader(body)
	r.LimitDepth(reviewDepthLimit)
	return r
}

// peekType reads the top-level apiVersion and kind of a review, and whether the body is
// a JSON object at all. The API server writes them first, so the objects that follow
// are not scanned.
func peekType(body engine.Body) (apiVersion, kind string, isObject bool) {
	r := newReader(body)
	isObject, _ = r.Members(func(key string) error {
		var err error
		switch key {
		case "apiVersion":
			err = readString(r, &apiVersion)
		case "kind":
			err = readString(r, &kind)
		default:
			err = stepOver(r)
		}
		if err != nil || apiVersion != "" && kind != "" {
			return errNotPlain // read no further
		}
		return nil
	})
	return apiVersion, kind, isObject
}

// requestOf is the request's uid and operation, as far as the body gives them: for
// answering a review that is refused before it is decoded.
func requestOf(body engine.Body) (uid types.UID, op admissionv1.Operation) {
	r := newReader(body)
	_, _ = r.Members(func(key string) error {
		if key != "request" {
			return stepOver(r)
		}
		_, err := r.Members(func(key string) error {
			switch key {
			case "uid":
				return readString(r, &uid)
			case "operation":
				return readString(r, &op)
			}
			return stepOver(r)
		})
		return err
	})
	return uid, op
}

// readReview reads a review in one pass of the engine's reader, before the gate admits
// it: the pass checks the body whole, counts the shape of its objects for the cost
// estimate, and reads the request's members, which cost next to nothing since its objects
// are slices of the body. The result is what controller-runtime's decoder gives
// (sigs.k8s.io/json, case-sensitive, integers kept) for the plain form the API server
// writes. Anything else (a member given twice, a value of another type, which the
// decoder refuses) is not plain: then shape counts the whole body, and decodeWhole
// decodes it once the gate has room, so the result is always the decoder's
// (FuzzDecodeRequest holds the two together). err is a syntax error.
func readReview(body engine.Body, req *Request) (shape jsonShape, plain bool, err error) {
	r := newReader(body)
	w := &shapeWalk{r: r, shape: jsonShape{bytes: int64(body.Len())}}
	requests := 0
	isObject, err := r.Members(func(key string) error {
		if key != "request" {
			return stepOver(r)
		}
		if requests++; requests > 1 {
			return errNotPlain
		}
		return readAdmissionRequest(w, req)
	})
	if err == nil && isObject {
		err = r.End()
	}
	if err == nil && isObject && requests == 1 {
		return w.shape, true, nil
	}
	if err != nil && !errors.Is(err, errNotPlain) {
		return jsonShape{}, false, err
	}
	*req = Request{}
	shape, err = shapeOf(body)
	return shape, false, err
}

// errNotPlain ends reading a review that is not of the plain form.
var errNotPlain = errors.New("not a review of the plain form")

// readAdmissionRequest reads the AdmissionRequest at the reader's position, counting
// the shape of its objects.
func readAdmissionRequest(w *shapeWalk, req *Request) error {
	r := w.r
	return readFields(r, func(key string) (uint32, error) {
		switch key {
		case "uid":
			return 1 << 0, readString(r, &req.UID)
		case "kind":
			return 1 << 1, readGVK(r, &req.Kind)
		case "resource":
			return 1 << 2, readGVR(r, &req.Resource)
		case "subResource":
			return 1 << 3, readString(r, &req.SubResource)
		case "requestKind":
			return 1 << 4, readOptional(r, &req.RequestKind, readGVK)
		case "requestResource":
			return 1 << 5, readOptional(r, &req.RequestResource, readGVR)
		case "requestSubResource":
			return 1 << 6, readString(r, &req.RequestSubResource)
		case "name":
			return 1 << 7, readString(r, &req.Name)
		case "namespace":
			return 1 << 8, readString(r, &req.Namespace)
		case "operation":
			return 1 << 9, readString(r, &req.Operation)
		case "userInfo":
			return 1 << 10, readUserInfo(r, &req.UserInfo)
		case "object":
			return 1 << 11, readObject(w, &req.Object)
		case "oldObject":
			return 1 << 12, readObject(w, &req.OldObject)
		case "dryRun":
			return 1 << 13, readOptional(r, &req.DryRun, readBool)
		case "options":
			return 1 << 14, readOptions(r, &req.Options.Raw)
		}
		return 0, stepOver(r)
	})
}

// readFields reads the object at r's position with read, which reads the value of the
// member it is given and says which field that is (a bit, 0 for a member not read): a
// field given twice is not the plain form. null is no object, as for the decoder.
func readFields(r *engine.Reader, read func(key string) (field uint32, err error)) error {
	if r.Null() {
		return nil
	}
	var seen uint32
	isObject, err := r.Members(func(key string) error {
		field, err := read(key)
		if err == nil && seen&field != 0 {
			err = errNotPlain
		}
		seen |= field
		return err
	})
	if err == nil && !isObject {
		err = errNotPlain
	}
	return err
}

// stringField is a member read into a string field.
type stringField struct {
	name string
	to   *string
}

// readStringFields reads an object whose members of interest are strings.
func readStringFields(r *engine.Reader, fields ...stringField) error {
	return readFields(r, func(key string) (uint32, error) {
		for i, f := range fields {
			if key == f.name {
				return 1 << i, readString(r, f.to)
			}
		}
		return 0, stepOver(r)
	})
}

func readGVK(r *engine.Reader, gvk *metav1.GroupVersionKind) error {
	return readStringFields(r,
		stringField{"group", &gvk.Group}, stringField{"version", &gvk.Version}, stringField{"kind", &gvk.Kind})
}

func readGVR(r *engine.Reader, gvr *metav1.GroupVersionResource) error {
	return readStringFields(r,
		stringField{"group", &gvr.Group}, stringField{"version", &gvr.Version}, stringField{"resource", &gvr.Resource})
}

func readUserInfo(r *engine.Reader, u *authenticationv1.UserInfo) error {
	return readFields(r, func(key string) (uint32, error) {
		switch key {
		case "username":
			return 1, readString(r, &u.Username)
		case "uid":
			return 2, readString(r, &u.UID)
		case "groups":
			return 4, readStrings(r, &u.Groups)
		case "extra":
			if r.Null() {
				return 8, nil
			}
			u.Extra = map[string]authenticationv1.ExtraValue{}
			return 8, readFields(r, func(key string) (uint32, error) {
				if _, twice := u.Extra[key]; twice {
					return 0, errNotPlain
				}
				var values []string
				err := readStrings(r, &values)
				u.Extra[key] = values
				return 0, err
			})
		}
		return 0, stepOver(r)
	})
}

// readString reads a JSON string into s; null leaves s as it is, as the decoder does.
func readString[S ~string](r *engine.Reader, s *S) error {
	if r.Null() {
		return nil
	}
	v, isString, err := r.String()
	if err != nil {
		return err
	}
	if !isString {
		return errNotPlain
	}
	*s = S(v)
	return nil
}

// readStrings reads an array of strings: nil for null, empty (not nil) for [], as the
// decoder makes them.
func readStrings(r *engine.Reader, list *[]string) error {
	if r.Null() {
		return nil
	}
	*list = []string{}
	isArray, err := r.Elements(func() error {
		var s string
		err := readString(r, &s)
		*list = append(*list, s)
		return err
	})
	if err == nil && !isArray {
		err = errNotPlain
	}
	return err
}

// readOptional reads a value that the request holds by pointer: nil for null.
func readOptional[T any](r *engine.Reader, to **T, read func(*engine.Reader, *T) error) error {
	if r.Null() {
		return nil
	}
	*to = new(T)
	return read(r, *to)
}

func readBool(r *engine.Reader, b *bool) error {
	v, err := r.Value()
	if err != nil {
		return err
	}
	switch v.String() {
	case "true":
		*b = true
	case "false":
		*b = false
	default:
		return errNotPlain
	}
	return nil
}

// readObject reads an object: the value's text, empty for null, with its shape counted.
func readObject(w *shapeWalk, object *engine.Body) error {
	if w.r.Null() {
		return nil
	}
	v, err := w.r.Span(func() error { return w.value(anywhere) })
	*object = v
	return err
}

// readOptions reads the request's options, which podguard does not read further: a copy
// of their text, nil for null.
func readOptions(r *engine.Reader, raw *[]byte) error {
	if r.Null() {
		return nil
	}
	v, err := r.Value()
	*raw = []byte(v.String())
	return err
}

func stepOver(r *engine.Reader) error {
	_, err := r.Value()
	return err
}

// decodeWhole is the decoder's own decoding of the review. Its objects are copies,
// which nothing else holds.
func decodeWhole(body engine.Body, req *Request) error {
	*req = Request{}
	review := struct {
		Request *admissionv1.AdmissionRequest `json:"request"`
	}{Request: &req.AdmissionRequest}
	if err := kjson.UnmarshalCaseSensitivePreserveInts([]byte(body.String()), &review); err != nil {
		return err
	}
	req.Object, req.OldObject = engine.BodyOf(req.AdmissionRequest.Object.Raw), engine.BodyOf(req.AdmissionRequest.OldObject.Raw)
	req.AdmissionRequest.Object.Raw, req.AdmissionRequest.OldObject.Raw = nil, nil
	return nil
}
