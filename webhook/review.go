package webhook

import (
	"encoding/json"

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
	isObject, _ = engine.Members(body, func(key string, start, end int) bool {
		var ok bool
		switch key {
		case "apiVersion":
			apiVersion, ok = jsonString(body[start:end])
		case "kind":
			kind, ok = jsonString(body[start:end])
		default:
			ok = true
		}
		return ok && (apiVersion == "" || kind == "")
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
// checks it whole, as the decoder does first, and a second over the request that reads
// its members in place: the objects are the body's own text where the decoder copies
// them. Anything but the plain form the API server writes (a member given twice, a value
// of another type, which the decoder refuses) is decoded by the decoder instead, so the
// result is always the decoder's: FuzzDecodeRequest holds the two together.
func decodeRequest(body []byte, req *admissionv1.AdmissionRequest) error {
	if request, ok := onlyMember(body, "request"); ok && readAdmissionRequest(request, req) {
		return nil
	}
	return decodeWhole(body, req)
}

// readAdmissionRequest reads the members of an AdmissionRequest from the text of a
// valid JSON value; ok is false when it is not an object of the plain form, and req is
// then to be decoded again.
func readAdmissionRequest(text []byte, req *admissionv1.AdmissionRequest) (ok bool) {
	var seen uint32
	ok = len(text) > 0 && text[0] == '{'
	if !ok {
		return false
	}
	_, err := engine.Members(text, func(key string, start, end int) bool {
		v := text[start:end]
		field := uint32(1)
		switch key {
		case "uid":
			ok = readString(v, &req.UID)
		case "kind":
			field, ok = 1<<1, readGVK(v, &req.Kind)
		case "resource":
			field, ok = 1<<2, readGVR(v, &req.Resource)
		case "subResource":
			field, ok = 1<<3, readString(v, &req.SubResource)
		case "requestKind":
			field = 1 << 4
			if !isNull(v) {
				req.RequestKind = &metav1.GroupVersionKind{}
				ok = readGVK(v, req.RequestKind)
			}
		case "requestResource":
			field = 1 << 5
			if !isNull(v) {
				req.RequestResource = &metav1.GroupVersionResource{}
				ok = readGVR(v, req.RequestResource)
			}
		case "requestSubResource":
			field, ok = 1<<6, readString(v, &req.RequestSubResource)
		case "name":
			field, ok = 1<<7, readString(v, &req.Name)
		case "namespace":
			field, ok = 1<<8, readString(v, &req.Namespace)
		case "operation":
			field, ok = 1<<9, readString(v, &req.Operation)
		case "userInfo":
			field, ok = 1<<10, readUserInfo(v, &req.UserInfo)
		case "object":
			field, req.Object.Raw = 1<<11, raw(v)
		case "oldObject":
			field, req.OldObject.Raw = 1<<12, raw(v)
		case "dryRun":
			field = 1 << 13
			switch string(v) {
			case "true", "false":
				b := string(v) == "true"
				req.DryRun = &b
			default:
				ok = isNull(v)
			}
		case "options":
			field, req.Options.Raw = 1<<14, raw(v)
		default:
			return true
		}
		ok = ok && seen&field == 0
		seen |= field
		return ok
	})
	return ok && err == nil
}

// raw is the text of a RawExtension, nil for null.
func raw(v []byte) []byte {
	if isNull(v) {
		return nil
	}
	return v
}

func isNull(v []byte) bool { return string(v) == "null" }

// readString reads a JSON string into s; null leaves s as it is, as the decoder does.
func readString[S ~string](v []byte, s *S) bool {
	if isNull(v) {
		return true
	}
	text, ok := jsonString(v)
	*s = S(text)
	return ok
}

// readObject reads the members of a JSON object, each once, with read; null is no
// object, as for the decoder.
func readObject(v []byte, read func(key string, v []byte) (field uint32, ok bool)) bool {
	if isNull(v) {
		return true
	}
	if len(v) == 0 || v[0] != '{' {
		return false
	}
	var seen uint32
	ok := true
	_, err := engine.Members(v, func(key string, start, end int) bool {
		var field uint32
		field, ok = read(key, v[start:end])
		ok = ok && seen&field == 0
		seen |= field
		return ok
	})
	return ok && err == nil
}

func readGVK(v []byte, gvk *metav1.GroupVersionKind) bool {
	return readObject(v, func(key string, v []byte) (uint32, bool) {
		switch key {
		case "group":
			return 1, readString(v, &gvk.Group)
		case "version":
			return 2, readString(v, &gvk.Version)
		case "kind":
			return 4, readString(v, &gvk.Kind)
		}
		return 0, true
	})
}

func readGVR(v []byte, gvr *metav1.GroupVersionResource) bool {
	return readObject(v, func(key string, v []byte) (uint32, bool) {
		switch key {
		case "group":
			return 1, readString(v, &gvr.Group)
		case "version":
			return 2, readString(v, &gvr.Version)
		case "resource":
			return 4, readString(v, &gvr.Resource)
		}
		return 0, true
	})
}

func readUserInfo(v []byte, u *authenticationv1.UserInfo) bool {
	return readObject(v, func(key string, v []byte) (uint32, bool) {
		switch key {
		case "username":
			return 1, readString(v, &u.Username)
		case "uid":
			return 2, readString(v, &u.UID)
		case "groups":
			var ok bool
			u.Groups, ok = readStrings(v)
			return 4, ok
		case "extra":
			if isNull(v) {
				return 8, true
			}
			u.Extra = map[string]authenticationv1.ExtraValue{}
			return 8, readObject(v, func(key string, v []byte) (uint32, bool) {
				values, ok := readStrings(v)
				_, twice := u.Extra[key]
				u.Extra[key] = values
				return 0, ok && !twice
			})
		}
		return 0, true
	})
}

// readStrings reads an array of strings: nil for null, empty (not nil) for [], as the
// decoder makes them.
func readStrings(v []byte) ([]string, bool) {
	if isNull(v) {
		return nil, true
	}
	if len(v) == 0 || v[0] != '[' {
		return nil, false
	}
	list := []string{}
	ok := true
	_, err := engine.Elements(v, func(start, end int) bool {
		var s string
		s, ok = jsonString(v[start:end])
		list = append(list, s)
		return ok
	})
	return list, ok && err == nil
}

// onlyMember is the text of the value of the top-level member name, when body is a valid
// JSON object that has it once; ok is false otherwise.
func onlyMember(body []byte, name string) (value []byte, ok bool) {
	n := 0
	isObject, err := engine.Members(body, func(key string, start, end int) bool {
		if key == name {
			value, n = body[start:end], n+1
		}
		return true
	})
	return value, isObject && err == nil && n == 1
}

// decodeWhole is the decoder's own decoding of the review.
func decodeWhole(body []byte, req *admissionv1.AdmissionRequest) error {
	*req = admissionv1.AdmissionRequest{}
	review := struct {
		Request *admissionv1.AdmissionRequest `json:"request"`
	}{Request: req}
	return kjson.UnmarshalCaseSensitivePreserveInts(body, &review)
}
