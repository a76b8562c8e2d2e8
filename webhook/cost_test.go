package webhook

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podguard/podguard/policies/engine"
)

func TestShapeOf(t *testing.T) {
	cases := map[string]struct {
		body string
		want jsonShape
	}{
		"object with members":       {`{"a":1,"b":[1,2]}`, jsonShape{bytes: 17, containers: 2, members: 2, separators: 2}},
		"structure inside strings":  {`{"a":"{[,:]}"}`, jsonShape{bytes: 14, containers: 1, members: 1}},
		"escaped quote in a string": {`["\"[,]", 1]`, jsonShape{bytes: 12, containers: 1, separators: 1}},
		"escaped backslash ends":    {`["\\",{}]`, jsonShape{bytes: 9, containers: 2, separators: 1}},
		"containers of a PodSpec": {`{"containers":[{},{"a":[{}]}],"initContainers":[{}]}`,
			jsonShape{bytes: 52, containers: 8, members: 3, separators: 2, podContainers: 3}},
		"a string value named like a list": {`{"a":"containers","b":[{}]}`, jsonShape{bytes: 27, containers: 3, members: 2, separators: 1}},
		"a key inside a container list":    {`{"ephemeralContainers":[{"containers":[{}]}]}`, jsonShape{bytes: 45, containers: 5, members: 2, podContainers: 2}},
		"labels": {`{"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"template":{"metadata":{"labels":{"c":""}}}}}`,
			jsonShape{bytes: 94, containers: 7, members: 9, separators: 2, labels: 3}},
		"a label value of 63 characters": {`{"labels":{"a":"` + strings.Repeat("v", 63) + `"}}`, jsonShape{bytes: 82, containers: 2, members: 2, labels: 1}},
		"a label value of 64 characters": {`{"labels":{"a":"` + strings.Repeat("v", 64) + `"}}`, jsonShape{bytes: 83, containers: 2, members: 2, labels: 1,
			invalid: "a label's value is 64 characters long, more than the 63 the API server allows"}},
		"a label value of 63 characters, one escaped": {`{"labels":{"a":"\u0041` + strings.Repeat("v", 62) + `"}}`, jsonShape{bytes: 87, containers: 2, members: 2, labels: 1}},
		"a label key of 318 characters": {`{"labels":{"` + strings.Repeat("k", 318) + `":""}}`, jsonShape{bytes: 336, containers: 2, members: 2, labels: 1,
			invalid: "a label's key is 318 characters long, more than the 317 the API server allows"}},
		"labels not an object":   {`{"labels":"x","b":{"c":"` + strings.Repeat("v", 64) + `"}}`, jsonShape{bytes: 91, containers: 2, members: 3, separators: 1}},
		"annotations of 256 KiB": {`{"annotations":{"k":"` + strings.Repeat("v", 256<<10-2) + `","l":""}}`, jsonShape{bytes: 256<<10 + 29, containers: 2, members: 3, separators: 1}},
		"annotations of 256 KiB and one byte": {`{"annotations":{"k":"` + strings.Repeat("v", 256<<10-2) + `","l":"v"}}`, jsonShape{bytes: 256<<10 + 30, containers: 2, members: 3, separators: 1,
			invalid: "the annotations of an object hold more than 262144 bytes (256 KiB) of keys and values, the most the API server allows"}},
		"two objects' annotations of 256 KiB each": {`[{"annotations":{"k":"` + strings.Repeat("v", 256<<10-1) + `"}},{"annotations":{"k":"` + strings.Repeat("v", 256<<10-1) + `"}}]`,
			jsonShape{bytes: 2*(256<<10) + 49, containers: 5, members: 4, separators: 1}},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			if got, err := shapeOf(engine.BodyOf([]byte(c.body))); got != c.want || err != nil {
				t.Errorf("shapeOf(%s) = %+v, %v; want %+v", c.body, got, err, c.want)
			}
		})
	}
}

// TestShapeOfRefusesJunk: the pass that estimates a body's cost checks its syntax, as
// every reading of podguard's JSON reader does.
func TestShapeOfRefusesJunk(t *testing.T) {
	for desc, body := range map[string]string{
		"empty":                   ``,
		"unterminated string":     `["abc,[`,
		"structure without value": `[[[[`,
		"data after the value":    `{} {}`,
		"a bad escape in a label": `{"labels":{"a":"\x"}}`,
		"nested past the limit":   strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	} {
		t.Run(desc, func(t *testing.T) {
			if s, err := shapeOf(engine.BodyOf([]byte(body))); err == nil {
				t.Errorf("shapeOf(%.40s) = %+v, want an error", body, s)
			}
		})
	}
}

// TestMetadataBeyondTheAPIServer: an object whose labels or annotations break the API
// server's own bounds is refused, with its uid and code 422, without being judged.
func TestMetadataBeyondTheAPIServer(t *testing.T) {
	validate, mutate := fuzzHooks(t)
	body := string(readRequest(t, "pod-create-compliant"))
	const uid = "00000000-0000-4000-8000-000000000001"
	annotations := `"annotations": {"a": "` + strings.Repeat("x", 256<<10) + `"},`
	cases := map[string]struct {
		body, want string
	}{
		"annotations over 256 KiB": {strings.Replace(body, `"labels": {`, annotations+`"labels": {`, 1),
			"the object is invalid, and the API server would refuse it: the annotations of an object hold more than 262144 bytes (256 KiB) of keys and values, the most the API server allows"},
		"a label value of 64 characters": {strings.Replace(body, `"labels": {`, `"labels": {"long": "`+strings.Repeat("v", 64)+`",`, 1),
			"the object is invalid, and the API server would refuse it: a label's value is 64 characters long, more than the 63 the API server allows"},
	}
	for desc, c := range cases {
		for hook, wh := range map[string]*testHook{webhookValidate: validate, webhookMutate: mutate} {
			t.Run(hook+" "+desc, func(t *testing.T) {
				if c.body == body {
					t.Fatal("the body was not changed")
				}
				h := reviewBody(wh, hook, &PolicySet{}, newGate(4, 64<<20, time.Second), newBodyBudget(8<<20, time.Second))
				req := httptest.NewRequest(http.MethodPost, "/"+hook, strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				assertJSON(t, w.Body.Bytes(), reviewError("admission.k8s.io/v1", uid, 422, c.want))
			})
		}
	}
}

// peakHeap runs f while sampling the heap's objects, with the garbage collector running
// often, so the peak is close to what f keeps live at once; it returns the rise over
// the heap before. runtime/metrics is read without stopping the world, so the sampling
// keeps up while f allocates.
func peakHeap(f func()) int64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	// Twice: the first moves what sync.Pools hold to their victim caches, the second
	// drops it, so f cannot reuse a previous run's scratch memory unseen.
	runtime.GC()
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			default:
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	f()
	close(stop)
	<-done
	return int64(peak.Load()) - int64(base)
}

// TestEstimatedCostBoundsMemory: for bodies of every shape, from a real Pod to dense
// structure meant to cost, the estimate the gate admits reviews by is above the memory
// either webhook takes to answer them, and not far above it (so the gate does not refuse
// what it could judge). When the decoding or evaluation path changes what it keeps,
// this test says whether the factors in cost.go still hold. The heap is measured in a
// process of its own: in one that runs the package's other tests, what they leave running
// allocates meanwhile (a run of the whole package measured 18 MiB for a review that takes
// 8).
func TestEstimatedCostBoundsMemory(t *testing.T) {
	if os.Getenv(measureAlone) == "" {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestEstimatedCostBoundsMemory$", "-test.v")
		cmd.Env = append(os.Environ(), measureAlone+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestEstimatedCostBoundsMemory ")) {
			t.Fatalf("measuring alone: %v", err)
		}
		return
	}
	// The built-in set reads facts only; "reads the object" adds a rule that reads
	// input.spec, so the object is converted for every evaluation.
	sets := map[string]engine.Options{
		"built-in rules":   {},
		"reads the object": {PolicyDir: writeRule(t, "spec_reader", specReaderRule)},
	}
	type target struct {
		hook, set   string
		handler     http.Handler
		readsObject bool
	}
	var targets []target
	for set, opts := range sets {
		e, err := engine.Load(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		ps := &PolicySet{}
		ps.Set(e)
		for hook, handle := range map[string]handleFunc{
			webhookValidate: (&Validator{Policies: ps, EvalTimeout: testDeadline}).Handle,
			webhookMutate:   (&Mutator{Policies: ps, EvalTimeout: testDeadline}).Handle,
		} {
			if hook == webhookMutate && opts.PolicyDir != "" {
				continue // the mutating webhook never reads rules' input
			}
			wh := &testHook{handle: handle, recoverPanic: true}
			targets = append(targets, target{hook, set, reviewBody(wh, hook, ps, newGate(1, 8<<30, testDeadline), newBodyBudget(64<<20, testDeadline)), e.ReadsObject()})
		}
	}

	// review wraps JSON as a field of a Pod's spec; the API server would drop the field,
	// but any client that reaches the port can send it.
	review := func(x string) string {
		return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},` +
			`"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","operation":"CREATE","userInfo":{},` +
			`"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"x":` + x + `,"containers":[{"name":"a","image":"a:1"}]}}}}`
	}
	repeat := func(item string, n int) string {
		return "[" + strings.Repeat(item+",", n/(len(item)+1)) + item + "]"
	}
	pod100k, err := os.ReadFile("../test/bench/bodies/pod-100k.json")
	if err != nil {
		t.Fatal(err)
	}
	env := func(n int) string {
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			fmt.Fprintf(&b, `{"name":"VAR_%06d","value":"some value"},`, i)
		}
		return strings.Replace(string(readRequest(t, "pod-create-compliant")), `"containers": [`, `"containers": [{"name":"env","image":"a:1","env":[`+b.String()+`{"name":"a"}]},`, 1)
	}
	members := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, `"k%d":0,`, i)
		}
		return b.String() + `"z":0}`
	}
	labels := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `"l%06d":"v%d",`, i, i%30)
		}
		return strings.Replace(string(readRequest(t, "mutate-pod-no-resources")), `"labels": {`, `"labels": {`+b.String(), 1)
	}
	const size = 1 << 20
	bodies := map[string]string{
		"100 KB Pod":                      string(pod100k),
		"Pod with 1 MB of env vars":       env(size),
		"Pod with 100,000 labels":         labels(100000),
		"one string":                      review(`"` + strings.Repeat("x", size) + `"`),
		"array of short strings":          review(repeat(`"abcdefgh"`, size)),
		"array of numbers":                review(repeat(`0`, size)),
		"array of one-member objects":     review(repeat(`{"a":0}`, size)),
		"array of four-member objects":    review(repeat(`{"a":0,"b":1,"c":"x","d":true}`, size)),
		"array of empty objects":          review(repeat(`{}`, size)),
		"array of one-element arrays":     review(repeat(`[0]`, size)),
		"one object with 100,000 members": review(members(100000)),
		// As many containers as podguard judges in one PodSpec, each costing its facts.
		"1,000 empty containers": strings.Replace(review(`0`), `"containers":[{"name":"a","image":"a:1"}]`, `"containers":`+repeat(`{}`, 3*engine.MaxContainers-1), 1),
		"1,000 containers breaking rules": strings.Replace(review(`0`), `"containers":[{"name":"a","image":"a:1"}]`,
			`"containers":`+repeat(`{"name":"a","image":"b","resources":{"limits":{"cpu":"1"}}}`, 59*engine.MaxContainers-1), 1),
	}
	if !strings.Contains(bodies["Pod with 1 MB of env vars"], "VAR_000001") || !strings.Contains(bodies["Pod with 100,000 labels"], "l000001") {
		t.Fatal("the env var or labels Pod was not built")
	}
	for desc, body := range bodies {
		for _, x := range targets {
			t.Run(x.hook+" "+x.set+" "+desc, func(t *testing.T) {
				var answer string
				// The least of three runs: a busy machine delays the collector, which only
				// ever adds garbage to a peak, never takes live memory from it.
				used := int64(math.MaxInt64)
				for range 3 {
					used = min(used, peakHeap(func() {
						req := httptest.NewRequest(http.MethodPost, "/"+x.hook, bytes.NewReader([]byte(body)))
						req.Header.Set("Content-Type", "application/json")
						w := httptest.NewRecorder()
						x.handler.ServeHTTP(w, req)
						answer = w.Body.String()
					}))
				}
				if !strings.Contains(answer, `"uid":"`) || strings.Contains(answer, `"code":503`) || strings.Contains(answer, `"code":400`) {
					t.Fatalf("not judged: %s", answer[:min(len(answer), 300)])
				}
				est := estimatedCost(x.hook, []byte(body), x.readsObject)
				t.Logf("%s %s, %s: %d KiB body: estimate %d KiB, peak heap %d KiB (%.1fx)", x.hook, x.set, desc, len(body)>>10, est>>10, used>>10, float64(est)/float64(used))
				if used > est {
					t.Errorf("answering took %d KiB of heap, more than the estimate of %d KiB", used>>10, est>>10)
				}
				if est > 6*max(used, 512<<10) {
					t.Errorf("estimate %d KiB is more than 6x the %d KiB used", est>>10, used>>10)
				}
			})
		}
	}
}

// measureAlone is set in the process that TestEstimatedCostBoundsMemory measures in.
const measureAlone = "PODGUARD_MEASURE_ALONE"

// specReaderRule reads the object itself, as a custom rule may.
const specReaderRule = `package pod.rules.spec_reader

violation contains "hostNetwork is on" if input.spec.hostNetwork == true
`

// writeRule writes one custom rule into a new policy directory.
func writeRule(t *testing.T, name, text string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name, name+".rego"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// estimatedCost is what the gate weighs a review by: the cost of the shape that
// readReview counts.
func estimatedCost(hook string, body []byte, readsObject bool) int64 {
	var req Request
	s, _, _ := readReview(engine.BodyOf(body), &req)
	return s.cost(hook, readsObject)
}
