package engine

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// FuzzDecodeObject holds the request decoder to encoding/json: on any input both accept,
// they give equal values, and whatever encoding/json refuses decodeObject refuses too,
// with encoding/json's error. It also holds the converter to OPA values to
// ast.InterfaceToValue.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":[1,2,{"b":null}],"c":true,"d":false}`, `{"a":"x\"y\\z\u00e9\ud83d\ude00"}`,
		`{"a":1}{"b":2}`, `{"a":1} trailing`, ` {"a" : -0.5e+10 } `, `{"a":01}`, `{"a":1.}`, `{"a":"\x"}`,
		`{"a":"` + "\xff\xfe" + `"}`, `null`, `[]`, `"x"`, `{"a":1,"a":2}`, `{"a":[]}`, `{"a":{}}`, `{"a"}`, `{`, ``,
		`{"a":"` + "\x01" + `"}`, `{"k` + "\u00e9" + `":1}`, `{"a":tru}`, `{"a":nul}`, `{"a":-}`, `{"a":1e}`, `{"a":[1,]}`, `{"a":1,}`,
	} {
		f.Add([]byte(s))
	}
	for _, name := range []string{"pod-compliant.json", "deployment.json"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "test", "bench", "bodies", name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gotErr := decodeObject(raw)
		var want map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		wantErr := dec.Decode(&want)
		if wantErr == nil && want == nil {
			wantErr = errNullObject
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("decodeObject error %v, encoding/json error %v", gotErr, wantErr)
		}
		if gotErr != nil {
			if gotErr.Error() != wantErr.Error() {
				t.Fatalf("error %q, encoding/json says %q", gotErr, wantErr)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeObject gave\n%#v\nencoding/json gave\n%#v", got, want)
		}
		// The converter that hands objects to Rego agrees with OPA's own.
		c := converter{keys: map[string]*ast.Term{}}
		v, err := c.value(got)
		w, werr := ast.InterfaceToValue(want)
		if (err == nil) != (werr == nil) || err == nil && v.Compare(w) != 0 {
			t.Fatalf("converter gave %v (%v), ast.InterfaceToValue %v (%v)", v, err, w, werr)
		}
	})
}
