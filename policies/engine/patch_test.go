package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/podguard/podguard/policies/engine"
)

// TestPatch: the mutation's JSON Patch is written from the additions' paths: a member
// that is missing is added, one that is null or "" replaced, a missing resources object or
// section added whole, an earlier note of podguard's extended, and every path a clean JSON
// Pointer (RFC 6901: "~" as ~0, "/" as ~1).
func TestPatch(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, []byte("defaults: {resources: {requests: {cpu: 100m, memory: null, example.com/a~b: \"1\"}, limits: null}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := load(t, engine.Options{ConfigFile: config})
	tests := map[string]struct{ pod, want string }{
		"no resources: the object added whole": {
			pod:  `{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"app"}]}}`,
			want: `[{"op":"add","path":"/spec/containers/0/resources","value":{"requests":{"cpu":"100m","example.com/a~b":"1"}}},{"op":"add","path":"/metadata/annotations","value":{"podguard.io/defaults":"app:requests.cpu=100m,app:requests.example.com/a~b=1"}}]`,
		},
		"null and empty values replaced, escaped paths, an earlier note extended": {
			pod: `{"kind":"Pod","metadata":{"name":"p","annotations":{"podguard.io/defaults":"old:requests.cpu=1"}},` +
				`"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":null,"example.com/a~b":""}}}]}}`,
			want: `[{"op":"replace","path":"/spec/containers/0/resources/requests/cpu","value":"100m"},{"op":"replace","path":"/spec/containers/0/resources/requests/example.com~1a~0b","value":"1"},` +
				`{"op":"replace","path":"/metadata/annotations/podguard.io~1defaults","value":"old:requests.cpu=1,app:requests.cpu=100m,app:requests.example.com/a~b=1"}]`,
		},
		"a section that is not an object replaced, a value that is set kept": {
			pod:  `{"kind":"Pod","metadata":{"name":"p","annotations":{}},"spec":{"initContainers":[{"name":"init","resources":{"limits":{"cpu":"1"},"requests":"x"}}],"containers":[{"name":"app","resources":{"requests":{"cpu":"1"}}}]}}`,
			want: `[{"op":"add","path":"/spec/containers/0/resources/requests/example.com~1a~0b","value":"1"},{"op":"replace","path":"/spec/initContainers/0/resources/requests","value":{"cpu":"100m","example.com/a~b":"1"}},{"op":"add","path":"/metadata/annotations/podguard.io~1defaults","value":"app:requests.example.com/a~b=1,init:requests.cpu=100m,init:requests.example.com/a~b=1"}]`,
		},
	}
	for desc, tc := range tests {
		t.Run(desc, func(t *testing.T) {
			v, err := e.Review(t.Context(), engine.Request{Mutate: true, Operation: engine.Create, Namespace: "default", Object: engine.BodyString(tc.pod)})
			if err != nil {
				t.Fatal(err)
			}
			if string(v.Patch) != tc.want {
				t.Errorf("patch\n got %s\nwant %s", v.Patch, tc.want)
			}
		})
	}
}
