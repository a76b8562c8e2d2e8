package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Warning is Rego in a policy directory that compiles but most likely does not do what
// its author meant: a rule podguard never runs, a setting it never reads.
type Warning struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Message) }

// Lint reads the policy set of opts as Load does and warns about the Rego of its policy
// directory (the built-in policies are podguard's own). It does not compile the set:
// Load refuses a set that does not compile, and says why.
func Lint(opts Options) ([]Warning, error) {
	if opts.PolicyDir == "" {
		return nil, nil
	}
	builtin, err := readSources("")
	if err != nil {
		return nil, err
	}
	srcs, err := readSources(opts.PolicyDir)
	if err != nil {
		return nil, err
	}
	modules, _, err := parseSources(srcs)
	if err != nil {
		return nil, err
	}
	own := map[string]bool{}
	for _, s := range builtin {
		own[s.name] = true
	}
	return lint(modules, func(file string) bool { return !own[file] }), nil
}

var (
	ruleConfigRef   = ast.MustParseRef("data.pod.lib.rule_config")
	configRulesRefs = []ast.Ref{ast.MustParseRef("data.pod.config.rules"), ast.MustParseRef("data.pod.lib.config.rules")}
	configRefs      = []ast.Ref{ast.MustParseRef("data.pod.config"), ast.MustParseRef("data.pod.lib.config")}
	globMatchRef    = ast.MustParseRef("glob.match")
	objectGetRef    = ast.MustParseRef("object.get")
)

// conftestRules are rule names other tools read and podguard does not.
var conftestRules = []string{"deny", "warn", "violations"}

// lint looks at the modules for which custom reports true, knowing the whole set.
func lint(modules map[string]*ast.Module, custom func(file string) bool) []Warning {
	var out []Warning
	warn := func(file string, loc *ast.Location, format string, a ...any) {
		line := 0
		if loc != nil {
			line = loc.Row
		}
		out = append(out, Warning{File: file, Line: line, Message: fmt.Sprintf(format, a...)})
	}
	ids := ruleIDs(modules)
	used := referencedPackages(modules)

	// What each custom package defines, over all of its files.
	type pkgInfo struct {
		path      ast.Ref
		file      string
		loc       *ast.Location
		violation bool
	}
	packages := map[string]*pkgInfo{}
	var names []string
	for _, file := range sortedFiles(modules) {
		if !custom(file) {
			continue
		}
		m := modules[file]
		path := m.Package.Path.String()
		p := packages[path]
		if p == nil {
			p = &pkgInfo{path: m.Package.Path, file: file, loc: m.Package.Location}
			packages[path] = p
			names = append(names, path)
		}
		reported := map[string]bool{}
		for _, r := range m.Rules {
			name := ruleName(r)
			if name == "violation" {
				p.violation = true
			}
			if slices.Contains(conftestRules, name) && !reported[name] {
				reported[name] = true
				warn(file, r.Location, "rule %s is never read: podguard reads only violation (violation contains v if {...}, "+
					"v an object with msg, field, container and fix); whether a violation denies or warns comes from the configuration", name)
			}
		}
		if pkg, ok := rulePackage(m.Package.Path); ok {
			lintMetadata(m, pkg, func(loc *ast.Location, format string, a ...any) { warn(file, loc, format, a...) })
		}
		lintCalls(m, ids, func(loc *ast.Location, format string, a ...any) { warn(file, loc, format, a...) })
		lintFacts(m, func(loc *ast.Location, format string, a ...any) { warn(file, loc, format, a...) })
	}
	for _, path := range names {
		p := packages[path]
		pkg, isRule := rulePackage(p.path)
		switch {
		case isRule && !p.violation:
			warn(p.file, p.loc, "package %s defines no violation rule, so rule %s never reports anything", strings.TrimPrefix(path, "data."), idOf(pkg))
		case !isRule && !used[path]:
			warn(p.file, p.loc, "package %s is never run: podguard runs the violation rules of packages pod.rules.<id> "+
				"(one level under pod.rules), and no other Rego uses this package", strings.TrimPrefix(path, "data."))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out
}

// lintMetadata checks that a rule package's METADATA id is the one its package gives.
func lintMetadata(m *ast.Module, pkg string, warn func(*ast.Location, string, ...any)) {
	for _, a := range m.Annotations {
		if a.Scope != "package" {
			continue
		}
		if id, ok := a.Custom["id"].(string); ok && id != idOf(pkg) {
			warn(a.Location, "METADATA custom.id %q does not match the package: package pod.rules.%s is rule %q "+
				"(podguard names a rule after its package, in messages and in the configuration)", id, pkg, idOf(pkg))
		}
	}
}

// lintCalls checks rule configuration lookups and glob.match calls.
func lintCalls(m *ast.Module, ids []string, warn func(*ast.Location, string, ...any)) {
	resolve := importResolver(m)
	checkID := func(loc *ast.Location, how string, t *ast.Term) {
		s, ok := t.Value.(ast.String)
		if !ok || slices.Contains(ids, string(s)) {
			return
		}
		hint := ""
		if id := idOf(string(s)); id != string(s) && slices.Contains(ids, id) {
			hint = fmt.Sprintf(": rule ids are spelled with -, did you mean %q?", id)
		} else {
			hint = fmt.Sprintf(" (rules: %s)", strings.Join(ids, ", "))
		}
		warn(loc, "%s looks up the settings of %q, which is no rule of this policy set, so it always gets none%s", how, string(s), hint)
	}
	call := func(loc *ast.Location, op ast.Ref, args []*ast.Term) {
		op = resolve(op)
		switch {
		case op.Equal(ruleConfigRef) && len(args) > 0:
			checkID(loc, fmt.Sprintf("lib.rule_config(%v)", args[0]), args[0])
		case op.Equal(objectGetRef) && len(args) > 1:
			base, ok := args[0].Value.(ast.Ref)
			path, isArray := args[1].Value.(*ast.Array)
			if ok && isArray && path.Len() > 1 && slices.ContainsFunc(configRefs, func(r ast.Ref) bool { return r.Equal(resolve(base)) }) && path.Elem(0).Equal(ast.InternedTerm("rules")) {
				checkID(loc, fmt.Sprintf("object.get(%v, %v, ...)", args[0], args[1]), path.Elem(1))
			}
		case op.Equal(globMatchRef) && len(args) > 1:
			if a, ok := args[1].Value.(*ast.Array); ok && a.Len() == 0 {
				warn(loc, `glob.match with [] as delimiters splits at ".": "*" does not cross a dot, so "busybox:*" does not match "busybox:1.36"; `+
					`pass null to let "*" match any characters, as podguard's own settings (exemptImages, namespace globs) do`)
			}
		}
	}
	ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case *ast.Expr:
			if x.IsCall() {
				call(x.Location, x.Operator(), x.Operands())
			}
		case *ast.Term:
			switch v := x.Value.(type) {
			case ast.Call:
				if op, ok := v[0].Value.(ast.Ref); ok {
					call(x.Location, op, v[1:])
				}
			case ast.Ref:
				full := resolve(v)
				for _, prefix := range configRulesRefs {
					if len(full) > len(prefix) && full.HasPrefix(prefix) {
						checkID(x.Location, v.String(), full[len(prefix)])
					}
				}
			}
		}
		return false
	}).Walk(m)
}

// importResolver rewrites a reference that starts with an imported name into the full
// data path it stands for (lib.rule_config after import data.pod.lib is
// data.pod.lib.rule_config).
func importResolver(m *ast.Module) func(ast.Ref) ast.Ref {
	aliases := map[ast.Var]ast.Ref{}
	for _, imp := range m.Imports {
		path, ok := imp.Path.Value.(ast.Ref)
		if !ok || len(path) == 0 {
			continue
		}
		name := imp.Alias
		if name == "" {
			switch last := path[len(path)-1].Value.(type) {
			case ast.String:
				name = ast.Var(last)
			case ast.Var:
				name = last
			default:
				continue
			}
		}
		aliases[name] = path
	}
	return func(r ast.Ref) ast.Ref {
		if len(r) == 0 {
			return r
		}
		head, ok := r[0].Value.(ast.Var)
		if !ok {
			return r
		}
		if base, ok := aliases[head]; ok {
			return base.Concat(r[1:])
		}
		return r
	}
}

// referencedPackages lists the packages that some module imports or refers to, so a
// package used only as a library is not taken for a misplaced rule.
func referencedPackages(modules map[string]*ast.Module) map[string]bool {
	var pkgs []ast.Ref
	for _, m := range modules {
		pkgs = append(pkgs, m.Package.Path)
	}
	used := map[string]bool{}
	for _, m := range modules {
		resolve := importResolver(m)
		mark := func(r ast.Ref) {
			for _, p := range pkgs {
				if !p.Equal(m.Package.Path) && r.HasPrefix(p) {
					used[p.String()] = true
				}
			}
		}
		for _, imp := range m.Imports {
			if r, ok := imp.Path.Value.(ast.Ref); ok {
				mark(r)
			}
		}
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if full := resolve(r); full.HasPrefix(ast.DefaultRootRef) {
				mark(full.GroundPrefix())
			}
			return false
		})
	}
	return used
}

// ruleName is the first part of a rule's name (deny of deny contains msg if ...).
func ruleName(r *ast.Rule) string {
	ref := r.Head.Ref()
	if len(ref) == 0 {
		return ""
	}
	if v, ok := ref[0].Value.(ast.Var); ok {
		return string(v)
	}
	return ""
}

func sortedFiles(modules map[string]*ast.Module) []string {
	files := make([]string, 0, len(modules))
	for f := range modules {
		files = append(files, f)
	}
	sort.Strings(files)
	return files
}
