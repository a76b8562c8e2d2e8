package engine_test

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/podguard/podguard/policies/engine"
)

// errStop ends a reading before the end of the text.
var errStop = errors.New("stop")

// ended is the error of a whole reading: none when it was stopped, and the text must end
// after a value read to its end.
func ended(r *engine.Reader, read bool, err error) error {
	switch {
	case errors.Is(err, errStop):
		return nil
	case err == nil && read:
		return r.End()
	}
	return err
}

// TestMembers: a Reader gives each member's value, checks what it steps through and,
// at its end, that nothing follows.
func TestMembers(t *testing.T) {
	for desc, tc := range map[string]struct {
		text     string
		stopAt   string
		want     map[string]string
		isObject bool
		fails    bool
	}{
		"members in order":      {text: ` {"a": 1, "b" :{"c":[true,null]} , "d":"x\"y"} `, want: map[string]string{"a": "1", "b": `{"c":[true,null]}`, "d": `"x\"y"`}, isObject: true},
		"empty object":          {text: `{}`, want: map[string]string{}, isObject: true},
		"escaped key":           {text: `{"r\u0065q":2}`, want: map[string]string{"req": "2"}, isObject: true},
		"not an object":         {text: `[1]`, want: map[string]string{}},
		"empty text":            {text: ``, want: map[string]string{}},
		"malformed value":       {text: `{"a":[1,}`, want: map[string]string{}, isObject: true, fails: true},
		"malformed after":       {text: `{"a":1,"b":tru}`, want: map[string]string{"a": "1"}, isObject: true, fails: true},
		"data after the object": {text: `{"a":1} x`, want: map[string]string{"a": "1"}, isObject: true, fails: true},
		"stopped before junk":   {text: `{"a":1,"b":2,"c":nope`, stopAt: "b", want: map[string]string{"a": "1", "b": "2"}, isObject: true},
	} {
		t.Run(desc, func(t *testing.T) {
			got := map[string]string{}
			r := engine.NewReader(engine.BodyString(tc.text))
			isObject, err := r.Members(func(key string) error {
				v, err := r.Value()
				if err != nil {
					return err
				}
				got[key] = v.String()
				if key == tc.stopAt {
					return errStop
				}
				return nil
			})
			err = ended(r, isObject, err)
			if isObject != tc.isObject || (err != nil) != tc.fails {
				t.Fatalf("isObject %v, error %v; want %v, failing %v", isObject, err, tc.isObject, tc.fails)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("members %v, want %v", got, tc.want)
			}
			if isObject && !tc.fails && tc.stopAt == "" && !json.Valid([]byte(tc.text)) {
				t.Errorf("accepted text encoding/json refuses")
			}
		})
	}
}

// TestElements: a Reader gives an array's elements as it gives an object's members.
func TestElements(t *testing.T) {
	for desc, tc := range map[string]struct {
		text    string
		want    []string
		isArray bool
		fails   bool
	}{
		"elements in order": {text: ` [ "a" , {"b":[1]},null ] `, want: []string{`"a"`, `{"b":[1]}`, "null"}, isArray: true},
		"empty array":       {text: `[]`, isArray: true},
		"not an array":      {text: `{"a":1}`},
		"malformed":         {text: `["a",]`, want: []string{`"a"`}, isArray: true, fails: true},
		"data after":        {text: `[1] 2`, want: []string{"1"}, isArray: true, fails: true},
	} {
		t.Run(desc, func(t *testing.T) {
			var got []string
			r := engine.NewReader(engine.BodyString(tc.text))
			isArray, err := r.Elements(func() error {
				v, err := r.Value()
				if err == nil {
					got = append(got, v.String())
				}
				return err
			})
			err = ended(r, isArray, err)
			if isArray != tc.isArray || (err != nil) != tc.fails || !slices.Equal(got, tc.want) {
				t.Errorf("elements %q, isArray %v, error %v; want %q, %v, failing %v", got, isArray, err, tc.want, tc.isArray, tc.fails)
			}
		})
	}
}

// TestNull: Null steps over a null and over nothing else.
func TestNull(t *testing.T) {
	for text, want := range map[string]bool{" null": true, "nul": false, `"null"`: false, "1": false, "": false} {
		r := engine.NewReader(engine.BodyString(text))
		if got := r.Null(); got != want {
			t.Errorf("Null() on %q = %v, want %v", text, got, want)
		}
		if want && r.End() != nil {
			t.Errorf("%q: the null was not stepped over", text)
		}
	}
}

// TestString: String unescapes a string, as encoding/json does, and steps over any
// other value.
func TestString(t *testing.T) {
	for desc, tc := range map[string]struct {
		text     string
		want     string
		isString bool
		fails    bool
	}{
		"plain":          {text: ` "web"`, want: "web", isString: true},
		"escapes":        {text: `"a\"b\u00e9\n"`, want: "a\"b\u00e9\n", isString: true},
		"non-ASCII":      {text: `"caf\u00e9 é"`, want: "café é", isString: true},
		"invalid UTF-8":  {text: "\"a\xffb\"", want: "a\ufffdb", isString: true},
		"a number":       {text: `12`},
		"an object":      {text: `{"a":"b"}`},
		"unterminated":   {text: `"abc`, fails: true},
		"bad escape":     {text: `"a\qb"`, fails: true},
		"malformed else": {text: `{"a":}`, fails: true},
	} {
		t.Run(desc, func(t *testing.T) {
			r := engine.NewReader(engine.BodyString(tc.text))
			got, isString, err := r.String()
			if err == nil {
				err = r.End()
			}
			if got != tc.want || isString != tc.isString || (err != nil) != tc.fails {
				t.Errorf("String() = %q, %v, error %v; want %q, %v, failing %v", got, isString, err, tc.want, tc.isString, tc.fails)
			}
		})
	}
}
