package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies/config"
	"github.com/podguard/podguard/policies/engine"
)

// testCase is one entry of expected.json (fields described in the corpus README).
type testCase struct {
	File                       string         `json:"file"`
	Kind                       string         `json:"kind"`
	ObjectKind                 string         `json:"object_kind"`
	Operation                  string         `json:"operation"`
	Check                      string         `json:"check"`
	Detail                     string         `json:"detail"`
	Expected                   string         `json:"expected"`
	Params                     map[string]any `json:"params"`
	EvaluatedWithAPIDefaulting bool           `json:"evaluated_with_api_defaulting"`
}

// objectKind is the kind podguard sees: the wrapped object's for an AdmissionReview.
func (c testCase) objectKind() string {
	if c.ObjectKind != "" {
		return c.ObjectKind
	}
	return c.Kind
}

// inScope are the checks podguard has rules for; "other" cases (pull policy, ratios,
// digests, ...) test things podguard does not claim to do.
var inScope = map[string]bool{"limits": true, "requests": true, "probes": true, "labels": true, "image-tag": true}

const (
	agree         = "agree"
	mismatch      = "mismatch"
	inexpressible = "not expressible"
	failed        = "error"
)

var outcomes = []string{agree, mismatch, inexpressible, failed}

// corpusDir is <repo>/../shared/conformance: go test runs in <repo>/test/conformance,
// and CI clones the repository with shared/ beside it.
func corpusDir() string {
	if d := os.Getenv("PODGUARD_CONFORMANCE_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "conformance")
}

func TestConformance(t *testing.T) {
	dir, err := filepath.Abs(corpusDir())
	if err != nil {
		t.Fatal(err)
	}
	// The corpus comes with the repository's machines (and CI's) as ../shared; without
	// it this test would pass having compared nothing, so its absence is a failure.
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("conformance corpus not found at %s: it lives beside the repository as ../shared/conformance "+
			"(set PODGUARD_CONFORMANCE_DIR to use another copy)", dir)
	}
	cases := loadCases(t, dir)
	r := &runner{ctx: t.Context(), dir: dir, tmp: t.TempDir(), engines: map[string]*engine.Engine{}}
	tally := newTally()

	// One subtest per file, one level below per check: a file can carry a requests and
	// a limits verdict.
	var files []string
	byFile := map[string][]testCase{}
	outOfScope := 0
	for _, c := range cases {
		if !inScope[c.Check] {
			outOfScope++
			continue
		}
		if byFile[c.File] == nil {
			files = append(files, c.File)
		}
		byFile[c.File] = append(byFile[c.File], c)
	}
	// A stale entry would hide nothing today but could hide a case tomorrow.
	for file := range notExpressible {
		if byFile[file] == nil {
			t.Errorf("notExpressible lists %s, which is not an in-scope case of the corpus", file)
		}
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			for _, c := range byFile[file] {
				t.Run(c.Check, func(t *testing.T) {
					tally.add(c, r.run(t, c))
				})
			}
		})
	}

	summary = fmt.Sprintf("podguard conformance against %s:\n%s", dir, tally.String()) +
		fmt.Sprintf("  out of scope (check other, not compared): %d\n", outOfScope)
	t.Log(summary)
}

// summary is printed by TestMain too, after go test -v's list of subtest results, where a
// reader (or tail) finds it; go test shows it without -v in package directory mode and
// whenever the package fails.
var summary string

func TestMain(m *testing.M) {
	code := m.Run()
	if summary != "" {
		fmt.Print(summary)
	}
	os.Exit(code)
}

func loadCases(t *testing.T, dir string) []testCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatalf("the corpus folder exists but its verdicts do not: %v", err)
	}
	var cases []testCase
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if len(cases) == 0 {
		t.Fatal("expected.json holds no cases")
	}
	return cases
}

type runner struct {
	ctx     context.Context
	dir     string
	tmp     string
	engines map[string]*engine.Engine // by configuration text: most cases share one
}

// run compares one case and returns its outcome; a mismatch or an error fails t.
func (r *runner) run(t *testing.T, c testCase) string {
	if reason, ok := notExpressible[c.File]; ok {
		t.Logf("not expressible: %s", reason)
		return inexpressible
	}
	rules, err := rulesFor(c)
	if err != nil {
		t.Errorf("%s [%s]: mapping params %v: %v", c.File, c.Check, c.Params, err)
		return failed
	}
	e, cfg, err := r.engine(rules)
	if err != nil {
		t.Errorf("%s [%s]: loading podguard with\n%s: %v", c.File, c.Check, cfg, err)
		return failed
	}
	denied, existing, err := r.verdict(c, e, rules)
	if err != nil {
		t.Errorf("%s [%s]: %v", c.File, c.Check, err)
		return failed
	}
	if len(existing) > 0 {
		t.Logf("UPDATE: %d deny violations were already on the old object and do not block", len(existing))
	}
	got := "allow"
	if len(denied) > 0 {
		got = "deny"
	}
	if got != c.Expected {
		lines := []string{" (none)"}
		if len(denied) > 0 {
			lines = nil
		}
		for _, v := range denied {
			lines = append(lines, "\n    "+v.String())
		}
		t.Errorf("%s [%s, %s]: expected %s, podguard says %s; deny violations:%s\nconfiguration:\n%s",
			c.File, c.Check, c.Detail, c.Expected, got, strings.Join(lines, ""), cfg)
		return mismatch
	}
	return agree
}

// engine returns podguard configured with only the given rules on, at deny.
func (r *runner) engine(rules map[string]ruleConfig) (*engine.Engine, string, error) {
	all := map[string]any{}
	for _, id := range config.BuiltinRules {
		all[id] = map[string]any{"enforcement": "off"}
	}
	for id, rule := range rules {
		on := map[string]any{"enforcement": "deny"}
		for k, v := range rule {
			on[k] = v
		}
		all[id] = on
	}
	// The cases judge objects as written: podguard's mutation defaults play no part, and
	// leaving them out keeps a case's bounds from being refused for the defaults'.
	text, err := yaml.Marshal(map[string]any{"rules": all, "defaults": map[string]any{"resources": nil}})
	if err != nil {
		return nil, "", err
	}
	cfg := string(text)
	if e, ok := r.engines[cfg]; ok {
		return e, cfg, nil
	}
	path := filepath.Join(r.tmp, fmt.Sprintf("config-%d.yaml", len(r.engines)))
	if err := os.WriteFile(path, text, 0o644); err != nil {
		return nil, cfg, err
	}
	e, err := engine.Load(r.ctx, engine.Options{ConfigFile: path})
	if err != nil {
		return nil, cfg, err
	}
	r.engines[cfg] = e
	return e, cfg, nil
}

// verdict returns the deny violations of the case's rules that block, as the webhook
// acts on them: on UPDATE only those the new object adds over the old one, the others
// being returned as existing.
func (r *runner) verdict(c testCase, e *engine.Engine, rules map[string]ruleConfig) (blocking, existing []engine.Violation, err error) {
	doc, err := readYAML(filepath.Join(r.dir, c.File))
	if err != nil {
		return nil, nil, err
	}
	newObj, oldObj, operation := doc, map[string]any(nil), "CREATE"
	if c.Kind == "AdmissionReview" {
		req, _ := doc["request"].(map[string]any)
		newObj, _ = req["object"].(map[string]any)
		oldObj, _ = req["oldObject"].(map[string]any)
		operation, _ = req["operation"].(string)
		if newObj == nil {
			return nil, nil, errors.New("AdmissionReview without request.object")
		}
		if operation == "UPDATE" && oldObj == nil {
			// A real API server always sends oldObject on UPDATE (gator's test input
			// omits it). A Pod's probes cannot change on update, so for a probe check the
			// old Pod carried exactly the new one's probes.
			if c.Check != "probes" || c.objectKind() != "Pod" {
				return nil, nil, fmt.Errorf("UPDATE without oldObject, and %s of a %s can change on update", c.Check, c.objectKind())
			}
			oldObj = newObj
		}
	}
	raw, err := r.prepare(c, newObj)
	if err != nil {
		return nil, nil, err
	}
	var oldRaw []byte
	if operation == "UPDATE" {
		if oldRaw, err = r.prepare(c, oldObj); err != nil {
			return nil, nil, fmt.Errorf("old object: %w", err)
		}
	}
	// Judged as written, as the other tools judge it; on UPDATE the engine keeps apart
	// what the old object had already.
	v, err := e.Review(r.ctx, engine.Request{Source: engine.Written, Operation: engine.Operation(operation), Namespace: "default", Object: engine.BodyOf(raw), OldObject: engine.BodyOf(oldRaw)})
	if err != nil {
		return nil, nil, err
	}
	if v.Skipped != engine.NotSkipped {
		return nil, nil, fmt.Errorf("not judged: %s", v.Reason)
	}
	inRules := func(vs []engine.Violation) (out []engine.Violation) {
		for _, v := range vs {
			if _, ok := rules[v.Rule]; ok {
				out = append(out, v)
			}
		}
		return out
	}
	return inRules(v.Decision.Deny), inRules(v.Existing), nil
}

// prepare is the JSON of an object as the API server hands it to admission.
func (r *runner) prepare(c testCase, m map[string]any) ([]byte, error) {
	if c.EvaluatedWithAPIDefaulting && m["kind"] == "Pod" {
		defaultRequestsFromLimits(m)
	}
	return json.Marshal(m)
}

// defaultRequestsFromLimits does what the API server did to the chainsaw and Polaris
// webhook cases before admission: a Pod container with a limit and no request for a
// resource gets the limit as its request. Only Pods are defaulted this way, never pod
// templates. (imagePullPolicy defaulting matters to none of the checks compared here.)
func defaultRequestsFromLimits(pod map[string]any) {
	spec, _ := pod["spec"].(map[string]any)
	for _, typ := range []string{"containers", "initContainers"} {
		for _, item := range list(spec[typ]) {
			container, _ := item.(map[string]any)
			res, _ := container["resources"].(map[string]any)
			limits, _ := res["limits"].(map[string]any)
			if len(limits) == 0 {
				continue
			}
			requests, _ := res["requests"].(map[string]any)
			if requests == nil {
				requests = map[string]any{}
				res["requests"] = requests
			}
			for k, v := range limits {
				if _, set := requests[k]; !set {
					requests[k] = v
				}
			}
		}
	}
}

// readYAML decodes one manifest, keeping numbers exact (Polaris uses bare quantities
// such as cpu: 0.05) the way the engine's own JSON decoding does.
func readYAML(path string) (map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("%s: not a YAML mapping: %v", path, err)
	}
	return m, nil
}

// tally counts outcomes overall, per check and per kind.
type tally struct {
	overall  map[string]int
	perCheck map[string]map[string]int
	perKind  map[string]map[string]int
	checks   []string
	kinds    []string
}

func newTally() *tally {
	return &tally{overall: map[string]int{}, perCheck: map[string]map[string]int{}, perKind: map[string]map[string]int{}}
}

func (t *tally) add(c testCase, outcome string) {
	t.overall[outcome]++
	if t.perCheck[c.Check] == nil {
		t.perCheck[c.Check] = map[string]int{}
		t.checks = append(t.checks, c.Check)
	}
	t.perCheck[c.Check][outcome]++
	kind := c.Kind
	if c.ObjectKind != "" {
		kind = fmt.Sprintf("%s(%s %s)", c.Kind, c.ObjectKind, c.Operation)
	}
	if t.perKind[kind] == nil {
		t.perKind[kind] = map[string]int{}
		t.kinds = append(t.kinds, kind)
	}
	t.perKind[kind][outcome]++
}

func (t *tally) String() string {
	var b strings.Builder
	row := func(name string, counts map[string]int) {
		fmt.Fprintf(&b, "  %-32s", name)
		for _, o := range outcomes {
			fmt.Fprintf(&b, " %16d", counts[o])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  %-32s", "")
	for _, o := range outcomes {
		fmt.Fprintf(&b, " %16s", o)
	}
	b.WriteString("\n")
	row("all", t.overall)
	for _, c := range t.checks {
		row("check "+c, t.perCheck[c])
	}
	for _, k := range t.kinds {
		row("kind "+k, t.perKind[k])
	}
	return b.String()
}
