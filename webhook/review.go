package webhook

import (
	"encoding/json"
	"errors"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"

	"github.com/podguard/podguard/policies/engine"
)

// peekType reads the top-level apiVersion and kind of a review, and whether the body is
// a JSON object at all. The API server writes them first, so the objects that follow
// are not scanned.
func peekType(body []byte) (apiVersion, kind string, isObject bool) {
	r := engine.NewReader(body)
	isObject, _ = r.Members(func(key string) error {
		start, end, err := r.Value()
		ok := err == nil
		switch key {
		case "apiVersion":
			apiVersion, ok = jsonString(body[start:end])
		case "kind":
			kind, ok = jsonString(body[start:end])
		}
		if !ok || apiVersion != "" && kind != "" {
			return errNotPlain // read no further
		}
		return nil
	})
	return apiVersion, kind, isObject
}

// jsonString decodes the text of a JSON string; ok is false for any other value.
func jsonString(text []byte) (s string, ok bool) {
	if len(text) < 2 || text[0] != '"' {
		return "", false
	}
	inner := text[1 : len(text)-1]
	if plain(inner) {
		return string(inner), true
	}
	return s, json.Unmarshal(text, &s) == nil
}

// plain is true for text of printable ASCII without escapes, which is its own string.
func plain(text []byte) bool {
	for _, c := range text {
		if c < 0x20 || c >= 0x80 || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// decodeRequest decodes the request of a review as controller-runtime does
// (sigs.k8s.io/json, case-sensitive, integers kept), in one pass over the body that
// checks it whole, as the decoder does first, and reads the request's members on the
// way: the objects are the body's own text, where the decoder copies them after a second
// pass. Anything but the plain form the API server writes (a member given twice, a value
// of another type, which the decoder refuses) is decoded by the decoder instead, so the
// result is always the decoder's: FuzzDecodeRequest holds the two together.
func decodeRequest(body []byte, req *admissionv1.AdmissionRequest) error {
	r := engine.NewReader(body)
	requests := 0
	isObject, err := r.Members(func(key string) error {
		if key != "request" {
			return stepOver(r)
		}
		if requests++; requests > 1 {
			return errNotPlain
		}
		return readAdmissionRequest(r, body, req)
	})
	if isObject && err == nil && requests == 1 && r.End() == nil {
		return nil
	}
	return decodeWhole(body, req)
}

// errNotPlain ends reading a review that is not of the plain form.
var errNotPlain = errors.New("not a review of the plain form")

// readAdmissionRequest reads the AdmissionRequest at r's position in text.
func readAdmissionRequest(r *engine.Reader, text []byte, req *admissionv1.AdmissionRequest) error {
	return readFields(r, func(key string) (uint32, error) {
		switch key {
		case "uid":
			return 1 << 0, readString(r, text, &req.UID)
		case "kind":
			return 1 << 1, readGVK(r, text, &req.Kind)
		case "resource":
			return 1 << 2, readGVR(r, text, &req.Resource)
		case "subResource":
			return 1 << 3, readString(r, text, &req.SubResource)
		case "requestKind":
			return 1 << 4, readOptional(r, text, &req.RequestKind, readGVK)
		case "requestResource":
			return 1 << 5, readOptional(r, text, &req.RequestResource, readGVR)
		case "requestSubResource":
			return 1 << 6, readString(r, text, &req.RequestSubResource)
		case "name":
			return 1 << 7, readString(r, text, &req.Name)
		case "namespace":
			return 1 << 8, readString(r, text, &req.Namespace)
		case "operation":
			return 1 << 9, readString(r, text, &req.Operation)
		case "userInfo":
			return 1 << 10, readUserInfo(r, text, &req.UserInfo)
		case "object":
			return 1 << 11, readRaw(r, text, &req.Object.Raw)
		case "oldObject":
			return 1 << 12, readRaw(r, text, &req.OldObject.Raw)
		case "dryRun":
			return 1 << 13, readOptional(r, text, &req.DryRun, readBool)
		case "options":
			return 1 << 14, readRaw(r, text, &req.Options.Raw)
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
func readStringFields(r *engine.Reader, text []byte, fields ...stringField) error {
	return readFields(r, func(key string) (uint32, error) {
		for i, f := range fields {
			if key == f.name {
				return 1 << i, readString(r, text, f.to)
			}
		}
		return 0, stepOver(r)
	})
}

func readGVK(r *engine.Reader, text []byte, gvk *metav1.GroupVersionKind) error {
	return readStringFields(r, text,
		stringField{"group", &gvk.Group}, stringField{"version", &gvk.Version}, stringField{"kind", &gvk.Kind})
}

func readGVR(r *engine.Reader, text []byte, gvr *metav1.GroupVersionResource) error {
	return readStringFields(r, text,
		stringField{"group", &gvr.Group}, stringField{"version", &gvr.Version}, stringField{"resource", &gvr.Resource})
}

func readUserInfo(r *engine.Reader, text []byte, u *authenticationv1.UserInfo) error {
	return readFields(r, func(key string) (uint32, error) {
		switch key {
		case "username":
			return 1, readString(r, text, &u.Username)
		case "uid":
			return 2, readString(r, text, &u.UID)
		case "groups":
			return 4, readStrings(r, text, &u.Groups)
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
				err := readStrings(r, text, &values)
				u.Extra[key] = values
				return 0, err
			})
		}
		return 0, stepOver(r)
	})
}

// readString reads a JSON string into s; null leaves s as it is, as the decoder does.
func readString[S ~string](r *engine.Reader, text []byte, s *S) error {
	if r.Null() {
		return nil
	}
	start, end, err := r.Value()
	if err != nil {
		return err
	}
	v, ok := jsonString(text[start:end])
	if !ok {
		return errNotPlain
	}
	*s = S(v)
	return nil
}

// readStrings reads an array of strings: nil for null, empty (not nil) for [], as the
// decoder makes them.
func readStrings(r *engine.Reader, text []byte, list *[]string) error {
	if r.Null() {
		return nil
	}
	*list = []string{}
	isArray, err := r.Elements(func() error {
		var s string
		err := readString(r, text, &s)
		*list = append(*list, s)
		return err
	})
	if err == nil && !isArray {
		err = errNotPlain
	}
	return err
}

// readOptional reads a value that the request holds by pointer: nil for null.
func readOptional[T any](r *engine.Reader, text []byte, to **T, read func(*engine.Reader, []byte, *T) error) error {
	if r.Null() {
		return nil
	}
	*to = new(T)
	return read(r, text, *to)
}

func readBool(r *engine.Reader, text []byte, b *bool) error {
	start, end, err := r.Value()
	if err != nil {
		return err
	}
	switch string(text[start:end]) {
	case "true":
		*b = true
	case "false":
		*b = false
	default:
		return errNotPlain
	}
	return nil
}

// readRaw reads a RawExtension: the value's text, nil for null.
func readRaw(r *engine.Reader, text []byte, raw *[]byte) error {
	if r.Null() {
		return nil
	}
	start, end, err := r.Value()
	*raw = text[start:end]
	return err
}

func stepOver(r *engine.Reader) error {
	_, _, err := r.Value()
	return err
}

// decodeWhole is the decoder's own decoding of the review.
func decodeWhole(body []byte, req *admissionv1.AdmissionRequest) error {
	*req = admissionv1.AdmissionRequest{}
	review := struct {
		Request *admissionv1.AdmissionRequest `json:"request"`
	}{Request: req}
	return kjson.UnmarshalCaseSensitivePreserveInts(body, &review)
}
