package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies"
	"github.com/podguard/podguard/policies/config"
	"github.com/podguard/podguard/policies/quantity"
	"github.com/podguard/podguard/policies/vm"
)

// Options says where a policy set comes from.
type Options struct {
	// PolicyDir holds extra Rego (custom rules, overrides of nothing: packages must not
	// collide with the built-in ones). Empty means the built-in policies only.
	PolicyDir string
	// ConfigFile is the user's configuration; empty means the embedded defaults.
	ConfigFile string
	// RunTests runs every *_test.rego of the set against the default configuration and
	// refuses the set when one fails, so a policy change that breaks its own tests never
	// goes live.
	RunTests bool
	// TestTimeout bounds each of those tests (--policy-test-timeout); zero means
	// DefaultTestTimeout.
	TestTimeout time.Duration
	// TestReport, when set, gets the report of the tests RunTests runs: each test's
	// result, and for a failing one the expression that failed with the values of its
	// variables, and what the test printed (podguard test).
	TestReport io.Writer
	// Now is the clock used for enforceAfter; nil means time.Now.
	Now func() time.Time
	// OPAEvaluator runs the rules with OPA's evaluator even when the planner can plan
	// them: the reference the planned evaluation is checked against, and the way out
	// should the plan ever answer differently (--evaluator=rego; see UseEvaluator).
	OPAEvaluator bool
	// Passed, when set, remembers the Rego whose tests passed across the loads that share
	// it (a server's reloads), so that a change of the configuration alone does not run
	// them again; nil runs them at every load.
	Passed *PassedTests
}

// UseEvaluator sets OPAEvaluator from the name of an evaluator, as --evaluator gives it:
// "plan" (OPA's planner, run by package vm; OPA's evaluator for a set the planner cannot
// plan) or "rego" (OPA's evaluator).
func (o *Options) UseEvaluator(name string) error {
	switch name {
	case "plan", "rego":
		o.OPAEvaluator = name == "rego"
		return nil
	}
	return fmt.Errorf("evaluator %q: use plan or rego", name)
}

// PassedTests is the hash of the last Rego whose tests passed.
type PassedTests struct{ hash atomic.Value }

// Load returns the hash, nil when none has passed (or p is nil).
func (p *PassedTests) Load() any {
	if p == nil {
		return nil
	}
	return p.hash.Load()
}

// Store records that the tests of the Rego with this hash passed.
func (p *PassedTests) Store(hash string) {
	if p != nil {
		p.hash.Store(hash)
	}
}

// deniedBuiltins are refused at compile time: a policy must not reach the network or
// read the process environment from inside an admission request.
var deniedBuiltins = map[string]bool{
	"http.send":          true,
	"net.lookup_ip_addr": true,
	"opa.runtime":        true,
}

func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	kept := c.Builtins[:0]
	for _, b := range c.Builtins {
		if !deniedBuiltins[b.Name] {
			kept = append(kept, b)
		}
	}
	c.Builtins = kept
	// An empty allow-list, not nil: nil lets json.match_schema fetch a remote $ref.
	c.AllowNet = []string{}
	return c
}

type source struct {
	name string // shown in errors: the file's path
	text []byte
}

// Load reads, compiles and (optionally) tests a policy set. It and LoadSnapshot are the
// only ways to get an Engine, so every Engine in use has compiled and validated.
func Load(ctx context.Context, opts Options) (*Engine, error) {
	s, err := ReadSnapshot(opts)
	if err != nil {
		return nil, err
	}
	return LoadSnapshot(ctx, s, opts)
}

// Snapshot is the policy files and configuration as read at one moment. A watcher reads
// one, compares its revision with what it serves, and compiles that same content, so the
// revision it reports is the one of what was compiled, whatever the files say by then.
type Snapshot struct {
	srcs      []source
	rawConfig []byte
	revision  string
}

// ReadSnapshot reads the policy directory and the configuration file of opts.
func ReadSnapshot(opts Options) (*Snapshot, error) {
	srcs, rawConfig, err := readInputs(opts)
	if err != nil {
		return nil, err
	}
	return &Snapshot{srcs: srcs, rawConfig: rawConfig, revision: revision(srcs, rawConfig)}, nil
}

// Revision is the revision an Engine loaded from the snapshot has.
func (s *Snapshot) Revision() string { return s.revision }

// Config is the configuration file's content as read (nil without one).
func (s *Snapshot) Config() []byte { return s.rawConfig }

// LoadSnapshot compiles and (optionally) tests the content of s; opts gives what the
// files do not (ConfigFile only names the file in errors).
func LoadSnapshot(ctx context.Context, s *Snapshot, opts Options) (*Engine, error) {
	srcs, rawConfig := s.srcs, s.rawConfig
	modules, tests, err := parseSources(srcs)
	if err != nil {
		return nil, err
	}
	ids := ruleIDs(modules)
	if len(ids) == 0 {
		return nil, errors.New("policy set has no rules (no package pod.rules.<id>)")
	}
	custom, err := customRules(ctx, modules, ids)
	if err != nil {
		return nil, err
	}
	cfg, err := config.ParseCustom(rawConfig, custom)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", opts.ConfigFile, err)
	}
	if opts.RunTests {
		lastPassed := opts.Passed
		// The tests run against the default configuration, so their outcome depends on
		// the Rego alone: a configuration change does not need them run again.
		regoHash := revision(srcs, nil)
		if lastPassed.Load() != regoHash {
			if err := runTests(ctx, modules, tests, cmp.Or(opts.TestTimeout, DefaultTestTimeout), opts.TestReport); err != nil {
				return nil, err
			}
			lastPassed.Store(regoHash)
		}
	}
	e := &Engine{cfg: cfg, rules: ids, info: ruleInfo(modules), sources: ruleSources(modules), now: opts.Now, revision: s.revision}
	if e.now == nil {
		e.now = time.Now
	}
	compiler := ast.NewCompiler().WithCapabilities(capabilities()).WithStrict(true)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, compiler.Errors
	}
	e.plan = planFor(cfg, compiler)
	data := storeData(cfg, modules)
	// AST values on read: rules read the config on every evaluation, and converting it
	// from Go values each time cost a third of an evaluation.
	store := inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))
	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		q, err := rego.New(
			rego.Query(query),
			rego.Compiler(compiler),
			rego.Capabilities(compiler.Capabilities()),
			rego.Store(store),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
		if err != nil {
			return q, fmt.Errorf("preparing %s: %w", query, err)
		}
		return q, nil
	}
	// What depends on the configuration alone is worked out once, here, and served as
	// data.pod.derived (see lib.derived).
	derived, err := evalDerived(ctx, prepare)
	if err != nil {
		return nil, err
	}
	data["pod"].(map[string]any)["derived"] = derived
	store = inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))
	e.decision.query, e.defaults.query = "data.pod.decision", "data.pod.defaults.additions"
	if err := e.prepare(ctx, opts.OPAEvaluator, compiler, data, prepare); err != nil {
		return nil, err
	}
	return e, nil
}

// prepare prepares both entrypoints for the evaluator that runs them: the plan unless
// OPA's evaluator is asked for or the planner cannot plan the set (planErr says why).
func (e *Engine) prepare(ctx context.Context, opaEvaluator bool, compiler *ast.Compiler, data map[string]any, prepare func(string) (rego.PreparedEvalQuery, error)) error {
	e.evaluator, e.planErr = "plan", nil
	if opaEvaluator {
		e.planErr = errors.New("OPA's evaluator was asked for")
	} else {
		value, err := ast.InterfaceToValue(data)
		if err != nil {
			return fmt.Errorf("converting data: %w", err)
		}
		for _, q := range []*query{&e.decision, &e.defaults} {
			planned, err := vm.Prepare(ctx, compiler, q.query, ast.NewTerm(value))
			if err != nil {
				e.planErr = err
				break
			}
			q.run = planned
		}
	}
	if e.planErr == nil {
		return nil
	}
	e.evaluator = "rego"
	for _, q := range []*query{&e.decision, &e.defaults} {
		pq, err := prepare(q.query)
		if err != nil {
			return err
		}
		q.run = regoQuery{pq}
	}
	return nil
}

// parseSources parses every source, and sorts the tests (*_test.rego) from the rest.
func parseSources(srcs []source) (modules, tests map[string]*ast.Module, err error) {
	modules, tests = map[string]*ast.Module{}, map[string]*ast.Module{}
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for _, s := range srcs {
		m, err := ast.ParseModuleWithOpts(s.name, string(s.text), popts)
		if err != nil {
			return nil, nil, err
		}
		if strings.HasSuffix(s.name, "_test.rego") {
			tests[s.name] = m
			continue
		}
		modules[s.name] = m
	}
	return modules, tests, nil
}

// evalDerived evaluates lib.derived without an input.
func evalDerived(ctx context.Context, prepare func(string) (rego.PreparedEvalQuery, error)) (any, error) {
	q, err := prepare("data.pod.lib.derived")
	if err != nil {
		return nil, err
	}
	rs, err := q.Eval(ctx)
	if err != nil {
		return nil, fmt.Errorf("working out data.pod.lib.derived: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, errors.New("data.pod.lib.derived is undefined without an input: it must depend on the configuration alone")
	}
	return rs[0].Expressions[0].Value, nil
}

func readInputs(opts Options) ([]source, []byte, error) {
	srcs, err := readSources(opts.PolicyDir)
	if err != nil {
		return nil, nil, err
	}
	var rawConfig []byte
	if opts.ConfigFile != "" {
		if rawConfig, err = os.ReadFile(opts.ConfigFile); err != nil {
			return nil, nil, fmt.Errorf("reading config: %w", err)
		}
	}
	return srcs, rawConfig, nil
}

// RuleInfo is what a rule's METADATA says about it.
type RuleInfo struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Link        string `json:"link,omitempty"`
}

// ruleInfo reads the package METADATA of every rule package.
func ruleInfo(modules map[string]*ast.Module) map[string]RuleInfo {
	out := map[string]RuleInfo{}
	for _, m := range modules {
		id, ok := ruleID(m.Package.Path)
		if !ok {
			continue
		}
		for _, a := range m.Annotations {
			if a.Scope != "package" {
				continue
			}
			info := RuleInfo{Title: a.Title, Description: strings.TrimSpace(a.Description)}
			if len(a.RelatedResources) > 0 {
				info.Link = a.RelatedResources[0].Ref.String()
			}
			out[id] = info
		}
	}
	return out
}

// readSources returns the built-in Rego followed by the policy directory's, in a stable
// order so the revision hash only changes when content does.
func readSources(dir string) ([]source, error) {
	var srcs []source
	err := fs.WalkDir(policies.FS, "pod", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".rego" {
			return err
		}
		b, err := policies.FS.ReadFile(p)
		srcs = append(srcs, source{name: "policies/" + p, text: b})
		return err
	})
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return srcs, nil
	}
	var extra []source
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// ConfigMap mounts keep their real files under ..data and timestamped dirs;
		// read only the visible names so each file counts once.
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || filepath.Ext(p) != ".rego" {
			return nil
		}
		b, err := os.ReadFile(p)
		extra = append(extra, source{name: p, text: b})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading policy dir: %w", err)
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].name < extra[j].name })
	return append(srcs, extra...), nil
}

// storeData is the data a policy set is evaluated with:
//   - data.pod.config: the configuration;
//   - data.pod.quantities: the value of every quantity string in it, read once here, so
//     that rules compare numbers (lib.config_quantity) and never read a quantity
//     themselves;
//   - data.pod.rule_packages: the packages under pod.rules whose rule can be on, with their
//     rule id, configured enforcement, and whether that enforcement is static (no
//     namespace override or enforceAfter can change it). main.rego walks them instead of
//     every package under pod.rules, so that a rule that is off everywhere is never
//     evaluated, and a static enforcement is not worked out again for every review;
//     without the list it finds the packages by evaluating them all, which is what opa
//     test does.
func storeData(cfg *config.Config, modules map[string]*ast.Module) map[string]any {
	packages := map[string]any{}
	for _, pkg := range rulePackages(modules) {
		id := idOf(pkg)
		if !cfg.CanBeOn(id) {
			continue
		}
		enforcement, static := cfg.Enforcement(id)
		packages[pkg] = map[string]any{"id": id, "enforcement": string(enforcement), "static": static}
	}
	cfgData := cfg.Data
	quantities := map[string]any{}
	collectQuantities(cfgData, quantities)
	return map[string]any{"pod": map[string]any{"config": cfgData, "quantities": quantities, "rule_packages": packages}}
}

// collectQuantities adds every string of v that reads as a quantity, with its value.
func collectQuantities(v any, out map[string]any) {
	switch x := v.(type) {
	case map[string]any:
		for _, item := range x {
			collectQuantities(item, out)
		}
	case []any:
		for _, item := range x {
			collectQuantities(item, out)
		}
	case string:
		if q, err := quantity.Read(x); err == nil {
			out[x] = json.Number(q.Decimal())
		}
	}
}

// planFor decides what the inputs of a policy set hold: see inputPlan.
func planFor(cfg *config.Config, c *ast.Compiler) inputPlan {
	plan := objectReads(c)
	plan.resources = cfg.ResourceNames()
	plan.podLevel = [2]bool{cfg.PodLevelCounts("resources-requests"), cfg.PodLevelCounts("resources-limits")}
	plan.unset = newTermCache[unsetKey]()
	return plan
}

// objectReads says which parts of the object itself, besides the facts, the rules that an
// evaluation can reach read: input.spec (the PodSpec) or input.object (the whole object).
// They are converted for an evaluation only when some rule reads them.
func objectReads(c *ast.Compiler) inputPlan {
	var needs inputPlan
	seen := map[*ast.Rule]bool{}
	var visit func(r *ast.Rule)
	visit = func(r *ast.Rule) {
		if seen[r] {
			return
		}
		seen[r] = true
		ast.WalkRefs(r, func(ref ast.Ref) bool {
			if !ref.HasPrefix(ast.InputRootRef) {
				return false
			}
			key := ""
			if len(ref) > 1 {
				if s, ok := ref[1].Value.(ast.String); ok {
					key = string(s)
				}
			}
			switch f, known := findInputField(key); {
			case key == "spec":
				needs.spec = true
			case key == "object":
				needs.object = true
			case known && !f.converted: // a fact every evaluation carries
			default:
				// The whole input, or a part named at evaluation time.
				needs.spec, needs.object = true, true
			}
			return false
		})
		for dep := range c.Graph.Dependencies(r) {
			if d, ok := dep.(*ast.Rule); ok {
				visit(d)
			}
		}
	}
	for _, root := range []ast.Ref{ast.MustParseRef("data.pod.decision"), ast.MustParseRef("data.pod.defaults.additions")} {
		for _, r := range c.GetRulesWithPrefix(root) {
			visit(r)
		}
	}
	// main.rego reaches the rules through data.pod.rules[pkg], named at evaluation time.
	for _, r := range c.GetRulesWithPrefix(rulesPrefix) {
		visit(r)
	}
	return needs
}

// ruleSources says where each rule's violations are defined: file and line of the first
// violation rule of its package.
func ruleSources(modules map[string]*ast.Module) map[string]string {
	out := map[string]string{}
	for name, m := range modules {
		id, ok := ruleID(m.Package.Path)
		if !ok {
			continue
		}
		for _, r := range m.Rules {
			if r.Head.Name.Equal(ast.Var("violation")) || r.Head.Ref().String() == "violation" {
				loc := name
				if r.Location != nil {
					loc = fmt.Sprintf("%s:%d", name, r.Location.Row)
				}
				if prev, seen := out[id]; !seen || loc < prev {
					out[id] = loc
				}
				break
			}
		}
		if _, seen := out[id]; !seen {
			out[id] = name
		}
	}
	return out
}

// ruleIDs lists the rule ids of a module set.
func ruleIDs(modules map[string]*ast.Module) []string {
	pkgs := rulePackages(modules)
	ids := make([]string, len(pkgs))
	for i, pkg := range pkgs {
		ids[i] = idOf(pkg)
	}
	sort.Strings(ids)
	return ids
}

// rulePackages lists, sorted, the names of the packages pod.rules.<name> of a module set.
func rulePackages(modules map[string]*ast.Module) []string {
	seen := map[string]bool{}
	for _, m := range modules {
		if pkg, ok := rulePackage(m.Package.Path); ok {
			seen[pkg] = true
		}
	}
	pkgs := make([]string, 0, len(seen))
	for pkg := range seen {
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	return pkgs
}

var rulesPrefix = ast.MustParseRef("data.pod.rules")

// rulePackage is <pkg> of package pod.rules.<pkg>.
func rulePackage(p ast.Ref) (string, bool) {
	if len(p) != len(rulesPrefix)+1 || !p.HasPrefix(rulesPrefix) {
		return "", false
	}
	s, ok := p[len(rulesPrefix)].Value.(ast.String)
	return string(s), ok
}

// ruleID maps package pod.rules.<pkg> to rule <pkg> with '_' spelled '-'.
func ruleID(p ast.Ref) (string, bool) {
	pkg, ok := rulePackage(p)
	return idOf(pkg), ok
}

func idOf(pkg string) string { return strings.ReplaceAll(pkg, "_", "-") }

func isBuiltin(id string) bool {
	for _, b := range config.BuiltinRules {
		if b == id {
			return true
		}
	}
	return false
}

// DefaultTestTimeout is how long each Rego test of a policy directory may run when the
// set is loaded. OPA's own default, 5s, is reached by a correct test on a busy node, and
// a set refused for that keeps a new replica unready.
const DefaultTestTimeout = time.Minute

// runTests runs the set's own Rego tests against the default configuration, each within
// timeout; with report, it writes OPA's report of them there (podguard test).
func runTests(ctx context.Context, modules, tests map[string]*ast.Module, timeout time.Duration, report io.Writer) error {
	// The policy directory's tests are run; the built-in ones are fixed with the binary
	// and run when it is built, and a custom rule must not fail them (main's tests judge
	// whole decisions, which a custom rule adds to). They are compiled all the same, so
	// that custom tests can use pod.testing.
	var packages []string
	for name, m := range tests {
		if !strings.HasPrefix(name, builtinPrefix) {
			packages = append(packages, regexp.QuoteMeta(m.Package.Path.String()+"."))
		}
	}
	if len(packages) == 0 {
		return nil
	}
	all := make(map[string]*ast.Module, len(modules)+len(tests))
	maps.Copy(all, modules)
	maps.Copy(all, tests)
	def, err := config.Default()
	if err != nil {
		return err
	}
	quantities, err := testQuantities(def)
	if err != nil {
		return err
	}
	store := inmem.NewFromObject(map[string]any{"pod": map[string]any{"config": def.Data, "quantities": quantities}})
	compiler := ast.NewCompiler().WithCapabilities(capabilities()).WithEnablePrintStatements(report != nil)
	runner := tester.NewRunner().SetCompiler(compiler).SetStore(store).SetTimeout(timeout).
		Filter("^(" + strings.Join(packages, "|") + ")").EnableTracing(report != nil)
	ch, err := runner.SetModules(all).RunTests(ctx, nil)
	if err != nil {
		return fmt.Errorf("policy tests: %w", err)
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	if report != nil {
		// OPA's own report, with the failing expression and its variables' values: what
		// the rule gave and what the test expected, as far as the expression shows them.
		each := make(chan *tester.Result, len(results))
		for _, r := range results {
			r.Trace = ownEvents(r.Trace)
			each <- r
		}
		close(each)
		rep := tester.PrettyReporter{Output: report, FailureLine: true, LocalVars: true}
		if err := rep.Report(each); err != nil {
			return err
		}
	}
	var failed, late []string
	for _, r := range results {
		// A test cancelled while ctx is still live ran out of its own time: that is a
		// slow test (or a slow machine), not a failing one, and is told apart.
		if r.Error != nil && topdown.IsCancel(r.Error) && ctx.Err() == nil {
			late = append(late, fmt.Sprintf("%s: %s.%s", r.Location, r.Package, r.Name))
			continue
		}
		if r.Fail || r.Error != nil {
			name := fmt.Sprintf("%s: %s.%s", r.Location, r.Package, r.Name)
			if r.Error != nil {
				name += ": " + r.Error.Error()
			}
			failed = append(failed, name)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("policy tests: %w", err)
	}
	var msgs []string
	if len(failed) > 0 {
		msgs = append(msgs, fmt.Sprintf("policy tests failed:\n  %s", strings.Join(failed, "\n  ")))
	}
	if len(late) > 0 {
		msgs = append(msgs, fmt.Sprintf("policy tests timed out: each may run for --policy-test-timeout %s, and these did not finish "+
			"(a timeout, not a failure: raise --policy-test-timeout on a busy machine, or make the tests faster):\n  %s",
			timeout, strings.Join(late, "\n  ")))
	}
	switch {
	case len(failed) > 0:
		return &TestsFailed{errors.New(strings.Join(msgs, "\n"))}
	case len(msgs) > 0:
		return errors.New(strings.Join(msgs, "\n"))
	}
	return nil
}

// ownEvents leaves out of a test's trace what happened inside the built-in library (a
// helper's clauses that do not apply fail too), so that the failure the report shows is
// the test's own expression.
func ownEvents(trace []*topdown.Event) []*topdown.Event {
	out := trace[:0]
	for _, e := range trace {
		if e.Location == nil || !strings.HasPrefix(e.Location.File, builtinPrefix) {
			out = append(out, e)
		}
	}
	return out
}

// TestsFailed is the error of a policy set whose own tests fail.
type TestsFailed struct{ Err error }

func (e *TestsFailed) Error() string { return e.Err.Error() }
func (e *TestsFailed) Unwrap() error { return e.Err }

// builtinPrefix starts the names of the built-in policy files (readSources).
const builtinPrefix = "policies/pod/"

// testQuantities is data.pod.quantities of the policy tests, as opa test has it: the
// quantities the built-in tests use (pod/quantities/data.yaml) and those of the default
// configuration.
func testQuantities(def *config.Config) (map[string]any, error) {
	raw, err := policies.FS.ReadFile(policies.TestQuantitiesPath)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := yaml.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", policies.TestQuantitiesPath, err)
	}
	collectQuantities(def.Data, out)
	return out, nil
}

// revision identifies what is being served: a hash of every policy file and the config.
func revision(srcs []source, rawConfig []byte) string {
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "%s\x00%d\x00", s.name, len(s.text))
		h.Write(s.text)
	}
	h.Write(rawConfig)
	return hex.EncodeToString(h.Sum(nil))[:12]
}
