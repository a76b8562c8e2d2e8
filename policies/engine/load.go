package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/podguard/podguard/policies"
	"github.com/podguard/podguard/policies/config"
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
	// Now is the clock used for enforceAfter; nil means time.Now.
	Now func() time.Time
}

// lastPassed is the hash of the last Rego whose tests passed.
var lastPassed atomic.Value

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
	modules := map[string]*ast.Module{}
	tests := map[string]*ast.Module{}
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for _, s := range srcs {
		m, err := ast.ParseModuleWithOpts(s.name, string(s.text), popts)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(s.name, "_test.rego") {
			tests[s.name] = m
			continue
		}
		modules[s.name] = m
	}
	ids := ruleIDs(modules)
	if len(ids) == 0 {
		return nil, errors.New("policy set has no rules (no package pod.rules.<id>)")
	}
	var custom []string
	for _, id := range ids {
		if !isBuiltin(id) {
			custom = append(custom, id)
		}
	}
	cfg, err := config.Parse(rawConfig, custom)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", opts.ConfigFile, err)
	}
	if opts.RunTests {
		// The tests run against the default configuration, so their outcome depends on
		// the Rego alone: a configuration change does not need them run again.
		regoHash := revision(srcs, nil)
		if lastPassed.Load() != regoHash {
			if err := runTests(ctx, modules, tests); err != nil {
				return nil, err
			}
			lastPassed.Store(regoHash)
		}
	}
	e := &Engine{cfg: cfg, rules: ids, info: ruleInfo(modules), now: opts.Now, revision: s.revision}
	if e.now == nil {
		e.now = time.Now
	}
	// AST values on read: rules read the config on every evaluation, and converting it
	// from Go values each time cost a third of an evaluation.
	store := inmem.NewFromObjectWithOpts(storeData(cfg.Data, modules), inmem.OptReturnASTValuesOnRead(true))
	compiler := ast.NewCompiler().WithCapabilities(capabilities()).WithStrict(true)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, compiler.Errors
	}
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
	if e.decision, err = prepare("data.pod.decision"); err != nil {
		return nil, err
	}
	if e.defaults, err = prepare("data.pod.defaults.additions"); err != nil {
		return nil, err
	}
	return e, nil
}

// Fingerprint is the revision the policy files and configuration would have if loaded
// now. It only reads files, so a watcher can call it often and load only on change.
func Fingerprint(opts Options) (string, error) {
	s, err := ReadSnapshot(opts)
	if err != nil {
		return "", err
	}
	return s.Revision(), nil
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

// runTests runs the set's own Rego tests against the default configuration.
func runTests(ctx context.Context, modules, tests map[string]*ast.Module) error {
	if len(tests) == 0 {
		return nil
	}
	all := make(map[string]*ast.Module, len(modules)+len(tests))
	for k, v := range modules {
		all[k] = v
	}
	for k, v := range tests {
		all[k] = v
	}
	def, err := config.Default()
	if err != nil {
		return err
	}
	store := inmem.NewFromObject(map[string]any{"pod": map[string]any{"config": def.Data}})
	compiler := ast.NewCompiler().WithCapabilities(capabilities()).WithEnablePrintStatements(false)
	runner := tester.NewRunner().SetCompiler(compiler).SetStore(store).SetTimeout(30 * time.Second)
	ch, err := runner.Run(ctx, all)
	if err != nil {
		return fmt.Errorf("policy tests: %w", err)
	}
	var failed []string
	for r := range ch {
		if r.Fail || r.Error != nil {
			name := fmt.Sprintf("%s: %s.%s", r.Location, r.Package, r.Name)
			if r.Error != nil {
				name += ": " + r.Error.Error()
			}
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("policy tests failed:\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
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
