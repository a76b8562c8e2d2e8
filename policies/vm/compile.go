package vm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// plan is one query's plan and the functions (rules) it calls.
type plan struct {
	main    *function
	funcs   []*function
	dynamic map[string]*function // by path (planner generation, then data path), for CallDynamicStmt
	memos   int                  // functions whose result is kept for the rest of an evaluation
	stack   int                  // locals of the deepest chain of calls
}

// load turns the planner's statements into instructions: string constants become
// terms, calls point at their function or built-in, and each function knows how many
// locals a call needs.
func load(policy *ir.Policy, caps *ast.Capabilities) (*plan, error) {
	if policy.Static == nil || policy.Plans == nil || len(policy.Plans.Plans) != 1 {
		return nil, errors.New("the plan is not of one query")
	}
	l := &loader{
		p:        &plan{dynamic: map[string]*function{}},
		byName:   map[string]*function{},
		decls:    map[string]*ast.Builtin{},
		builtins: map[string]*builtin{},
	}
	for _, b := range caps.Builtins {
		l.decls[b.Name] = b
	}
	for _, s := range policy.Static.Strings {
		l.strings = append(l.strings, ast.StringTerm(s.Value))
	}
	for _, f := range policy.Static.Files {
		l.files = append(l.files, f.Value)
	}
	if policy.Funcs != nil {
		// Functions are made first, so that calls resolve whatever order they come in.
		for _, f := range policy.Funcs.Funcs {
			fn := &function{name: f.Name, memo: -1}
			l.byName[f.Name] = fn
			l.p.funcs = append(l.p.funcs, fn)
		}
		for i, f := range policy.Funcs.Funcs {
			fn := l.p.funcs[i]
			if err := l.function(fn, f.Params, f.Return, f.Blocks); err != nil {
				return nil, fmt.Errorf("function %s: %w", f.Name, err)
			}
			if len(f.Path) > 0 {
				l.p.dynamic[joinPath(f.Path)] = fn
			}
		}
	}
	p := policy.Plans.Plans[0]
	l.p.main = &function{name: p.Name, memo: -1}
	if err := l.function(l.p.main, []ir.Local{ir.Input, ir.Data}, -1, p.Blocks); err != nil {
		return nil, err
	}
	stack, err := l.p.stackOf(l.p.main, map[*function]int{}, 0)
	if err != nil {
		return nil, err
	}
	l.p.stack = stack
	return l.p, nil
}

type loader struct {
	p        *plan
	byName   map[string]*function
	strings  []*ast.Term
	files    []string
	decls    map[string]*ast.Builtin
	builtins map[string]*builtin
	max      int // the highest local of the function being loaded
	// What the function being loaded adds to its collections, and copies: see fold.
	mutated map[ir.Local]int
	copies  map[ir.Local][]ir.Local
}

// dynamicCallees are the rules a dynamic call can reach: those whose path has its
// length and its constant parts.
func (p *plan) dynamicCallees(path []operand) []*function {
	var out []*function
next:
	for key, f := range p.dynamic {
		parts := strings.Split(key, "\x00")
		if len(parts) != len(path) {
			continue
		}
		for i, o := range path {
			if o.term != nil {
				if s, ok := o.term.Value.(ast.String); !ok || string(s) != parts[i] {
					continue next
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// stackOf is how many locals fn and the deepest chain of calls it makes hold at once.
// Rego has no recursion, so the calls form no cycle; a dynamic call may reach any rule
// with a data path.
func (p *plan) stackOf(fn *function, known map[*function]int, depth int) (int, error) {
	if n, ok := known[fn]; ok {
		return n, nil
	}
	if depth > len(p.funcs)+1 {
		return 0, fmt.Errorf("function %s calls itself", fn.name)
	}
	deepest := 0
	var walk func(bs []block) error
	walk = func(bs []block) error {
		for _, b := range bs {
			for i := range b {
				in := &b[i]
				var callees []*function
				switch in.op {
				case opCall:
					callees = []*function{in.fn}
				case opCallDynamic:
					callees = p.dynamicCallees(in.path)
				}
				for _, c := range callees {
					n, err := p.stackOf(c, known, depth+1)
					if err != nil {
						return err
					}
					deepest = max(deepest, n)
				}
				if err := walk(in.blocks); err != nil {
					return err
				}
				if in.body != nil {
					if err := walk([]block{in.body}); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if err := walk(fn.blocks); err != nil {
		return 0, err
	}
	known[fn] = fn.locals + deepest
	return known[fn], nil
}

func (l *loader) function(fn *function, params []ir.Local, ret ir.Local, blocks []*ir.Block) error {
	l.max = 2
	fn.params = make([]int32, len(params))
	for i, p := range params {
		fn.params[i] = l.local(p)
	}
	fn.ret = -1
	if ret >= 0 {
		fn.ret = l.local(ret)
	}
	// A rule's value (input and data as its only parameters) is computed once per
	// evaluation, as OPA's evaluator and its Wasm runtime do.
	if len(params) == 2 && ret >= 0 {
		fn.memo = l.p.memos
		l.p.memos++
	}
	l.mutated, l.copies = mutations(blocks)
	var err error
	if fn.blocks, err = l.blocks(blocks); err != nil {
		return err
	}
	fn.locals = l.max + 1
	return nil
}

// mutations counts, for each local of a function, the statements that add to the
// collection it holds, and lists the locals each local is copied to.
func mutations(blocks []*ir.Block) (mutated map[ir.Local]int, copies map[ir.Local][]ir.Local) {
	mutated, copies = map[ir.Local]int{}, map[ir.Local][]ir.Local{}
	count := visitor(func(x any) {
		switch s := x.(type) {
		case *ir.ArrayAppendStmt:
			mutated[s.Array]++
		case *ir.ObjectInsertStmt:
			mutated[s.Object]++
		case *ir.ObjectInsertOnceStmt:
			mutated[s.Object]++
		case *ir.SetAddStmt:
			mutated[s.Set]++
		case *ir.AssignVarStmt:
			if src, ok := localOf(s.Source); ok {
				copies[src] = append(copies[src], s.Target)
			}
		case *ir.AssignVarOnceStmt:
			if src, ok := localOf(s.Source); ok {
				copies[src] = append(copies[src], s.Target)
			}
		}
	})
	for _, b := range blocks {
		_ = ir.Walk(count, b)
	}
	return mutated, copies
}

type visitor func(any)

func (v visitor) Before(x any)                  { v(x) }
func (v visitor) Visit(any) (ir.Visitor, error) { return v, nil }
func (v visitor) After(any)                     {}

func localOf(o ir.Operand) (ir.Local, bool) {
	switch v := o.Value.(type) {
	case ir.Local:
		return v, true
	case *ir.Local:
		return *v, true
	}
	return 0, false
}

// fold makes a literal collection (an array, object or set whose elements are all
// constants, added right after it is made) a constant made once, when nothing adds to
// it later, directly or through a copy: evaluations then share it instead of building
// it each time (object.get's defaults, lists in rules).
func (l *loader) fold(b block) block {
	out := b[:0]
	for i := 0; i < len(b); i++ {
		in := b[i]
		if in.op != opMakeArray && in.op != opMakeObject && in.op != opMakeSet {
			out = append(out, in)
			continue
		}
		var elems [][2]*ast.Term
		j := i + 1
		for ; j < len(b); j++ {
			a := b[j]
			if a.target != in.target || a.a.term == nil {
				break
			}
			if in.op == opMakeArray && a.op == opArrayAppend || in.op == opMakeSet && a.op == opSetAdd {
				elems = append(elems, [2]*ast.Term{a.a.term})
			} else if in.op == opMakeObject && a.op == opObjectInsert && a.b.term != nil {
				elems = append(elems, [2]*ast.Term{a.a.term, a.b.term})
			} else {
				break
			}
		}
		if l.mutated[ir.Local(in.target)] != len(elems) || l.copiedAndMutated(ir.Local(in.target), map[ir.Local]bool{}) {
			out = append(out, in)
			continue
		}
		in.op, in.term = opAssign, constant(b[i].op, elems)
		out = append(out, in)
		i = j - 1
	}
	return out
}

func (l *loader) copiedAndMutated(x ir.Local, seen map[ir.Local]bool) bool {
	for _, c := range l.copies[x] {
		if seen[c] {
			continue
		}
		seen[c] = true
		if l.mutated[c] > 0 || l.copiedAndMutated(c, seen) {
			return true
		}
	}
	return false
}

func constant(op opcode, elems [][2]*ast.Term) *ast.Term {
	switch op {
	case opMakeArray:
		terms := make([]*ast.Term, len(elems))
		for i, e := range elems {
			terms[i] = e[0]
		}
		return ast.ArrayTerm(terms...)
	case opMakeSet:
		terms := make([]*ast.Term, len(elems))
		for i, e := range elems {
			terms[i] = e[0]
		}
		return ast.SetTerm(terms...)
	}
	obj := ast.NewObjectWithCapacity(len(elems))
	for _, e := range elems {
		obj.Insert(e[0], e[1])
	}
	return ast.NewTerm(obj)
}

func (l *loader) local(x ir.Local) int32 {
	l.max = max(l.max, int(x))
	return int32(x)
}

func (l *loader) blocks(bs []*ir.Block) ([]block, error) {
	out := make([]block, len(bs))
	for i, b := range bs {
		var err error
		if out[i], err = l.block(b); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (l *loader) block(b *ir.Block) (block, error) {
	out := make(block, 0, len(b.Stmts))
	for _, s := range b.Stmts {
		in, err := l.instr(s)
		if err != nil {
			loc := s.GetLocation()
			return nil, fmt.Errorf("%s:%d: %w", l.file(loc.File), loc.Row, err)
		}
		if in.op == opNop {
			continue
		}
		out = append(out, in)
	}
	out = l.fold(out)
	// An object the block makes is made with room for the members the block inserts
	// (a violation's msg, field, container and fix), so it does not grow three times.
	for i := range out {
		if out[i].op != opMakeObject {
			continue
		}
		for j := i + 1; j < len(out); j++ {
			if (out[j].op == opObjectInsert || out[j].op == opObjectInsertOnce) && out[j].target == out[i].target {
				out[i].index++
			}
		}
	}
	return out, nil
}

func (l *loader) file(i int) string {
	if i >= 0 && i < len(l.files) {
		return l.files[i]
	}
	return ""
}

func (l *loader) operand(o ir.Operand) (operand, error) {
	// Read from JSON, operands hold pointers.
	switch v := o.Value.(type) {
	case *ir.Local:
		return l.operand(ir.Operand{Value: *v})
	case *ir.StringIndex:
		return l.operand(ir.Operand{Value: *v})
	case *ir.Bool:
		return l.operand(ir.Operand{Value: *v})
	}
	switch v := o.Value.(type) {
	case ir.Local:
		return operand{local: l.local(v)}, nil
	case ir.StringIndex:
		if int(v) < 0 || int(v) >= len(l.strings) {
			return operand{}, fmt.Errorf("string constant %d out of range", v)
		}
		return operand{local: -1, term: l.strings[v]}, nil
	case ir.Bool:
		return operand{local: -1, term: ast.InternedTerm(bool(v))}, nil
	}
	return operand{}, fmt.Errorf("unknown operand %T", o.Value)
}

func (l *loader) operands(os []ir.Operand) ([]operand, error) {
	out := make([]operand, len(os))
	for i, o := range os {
		var err error
		if out[i], err = l.operand(o); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (l *loader) instr(s ir.Stmt) (in instr, err error) {
	loc := s.GetLocation()
	in.loc = &ast.Location{File: l.file(loc.File), Row: loc.Row, Col: loc.Col}
	switch s := s.(type) {
	case *ir.NopStmt:
		in.op = opNop
	case *ir.ReturnLocalStmt:
		in.op, in.a = opReturn, operand{local: l.local(s.Source)}
	case *ir.CallStmt:
		in.target = l.local(s.Result)
		if in.args, err = l.operands(s.Args); err != nil {
			return in, err
		}
		if fn, ok := l.byName[s.Func]; ok {
			in.op, in.fn = opCall, fn
			return in, nil
		}
		bi, err := l.builtin(s.Func)
		if err != nil {
			return in, err
		}
		in.op, in.bi = opBuiltin, bi
	case *ir.CallDynamicStmt:
		in.op, in.target = opCallDynamic, l.local(s.Result)
		for _, a := range s.Args {
			in.args = append(in.args, operand{local: l.local(a)})
		}
		if in.path, err = l.operands(s.Path); err != nil {
			return in, err
		}
	case *ir.BlockStmt:
		in.op = opBlock
		if in.blocks, err = l.blocks(s.Blocks); err != nil {
			return in, err
		}
	case *ir.BreakStmt:
		in.op, in.index = opBreak, int(s.Index)
	case *ir.DotStmt:
		in.op, in.target = opDot, l.local(s.Target)
		if in.a, err = l.operand(s.Source); err != nil {
			return in, err
		}
		in.b, err = l.operand(s.Key)
	case *ir.LenStmt:
		in.op, in.target = opLen, l.local(s.Target)
		in.a, err = l.operand(s.Source)
	case *ir.ScanStmt:
		in.op = opScan
		in.a = operand{local: l.local(s.Source)}
		in.key, in.value = l.local(s.Key), l.local(s.Value)
		in.body, err = l.block(s.Block)
	case *ir.NotStmt:
		in.op = opNot
		in.body, err = l.block(s.Block)
	case *ir.AssignIntStmt:
		in.op, in.target, in.term = opAssign, l.local(s.Target), ast.IntNumberTerm(int(s.Value))
	case *ir.AssignVarStmt:
		in.op, in.target = opAssignVar, l.local(s.Target)
		in.a, err = l.operand(s.Source)
	case *ir.AssignVarOnceStmt:
		in.op, in.target = opAssignOnce, l.local(s.Target)
		in.a, err = l.operand(s.Source)
	case *ir.ResetLocalStmt:
		in.op, in.target = opReset, l.local(s.Target)
	case *ir.MakeNullStmt:
		in.op, in.target, in.term = opAssign, l.local(s.Target), ast.InternedNullTerm
	case *ir.MakeNumberIntStmt:
		in.op, in.target, in.term = opAssign, l.local(s.Target), ast.IntNumberTerm(int(s.Value))
	case *ir.MakeNumberRefStmt:
		if s.Index < 0 || s.Index >= len(l.strings) {
			return in, fmt.Errorf("number constant %d out of range", s.Index)
		}
		in.op, in.target = opAssign, l.local(s.Target)
		in.term = ast.NumberTerm(json.Number(string(l.strings[s.Index].Value.(ast.String))))
	case *ir.MakeArrayStmt:
		in.op, in.target, in.index = opMakeArray, l.local(s.Target), int(max(s.Capacity, 0))
	case *ir.MakeObjectStmt:
		in.op, in.target = opMakeObject, l.local(s.Target)
	case *ir.MakeSetStmt:
		in.op, in.target = opMakeSet, l.local(s.Target)
	case *ir.EqualStmt:
		in.op = opEqual
		if in.a, err = l.operand(s.A); err != nil {
			return in, err
		}
		in.b, err = l.operand(s.B)
	case *ir.NotEqualStmt:
		in.op = opNotEqual
		if in.a, err = l.operand(s.A); err != nil {
			return in, err
		}
		in.b, err = l.operand(s.B)
	case *ir.IsArrayStmt:
		in.op = opIsArray
		in.a, err = l.operand(s.Source)
	case *ir.IsObjectStmt:
		in.op = opIsObject
		in.a, err = l.operand(s.Source)
	case *ir.IsSetStmt:
		in.op = opIsSet
		in.a, err = l.operand(s.Source)
	case *ir.IsDefinedStmt:
		in.op, in.a = opIsDefined, operand{local: l.local(s.Source)}
	case *ir.IsUndefinedStmt:
		in.op, in.a = opIsUndefined, operand{local: l.local(s.Source)}
	case *ir.ArrayAppendStmt:
		in.op, in.target = opArrayAppend, l.local(s.Array)
		in.a, err = l.operand(s.Value)
	case *ir.ObjectInsertStmt:
		in.op, in.target = opObjectInsert, l.local(s.Object)
		if in.a, err = l.operand(s.Key); err != nil {
			return in, err
		}
		in.b, err = l.operand(s.Value)
	case *ir.ObjectInsertOnceStmt:
		in.op, in.target = opObjectInsertOnce, l.local(s.Object)
		if in.a, err = l.operand(s.Key); err != nil {
			return in, err
		}
		in.b, err = l.operand(s.Value)
	case *ir.ObjectMergeStmt:
		in.op, in.target = opObjectMerge, l.local(s.Target)
		in.a, in.b = operand{local: l.local(s.A)}, operand{local: l.local(s.B)}
	case *ir.SetAddStmt:
		in.op, in.target = opSetAdd, l.local(s.Set)
		in.a, err = l.operand(s.Value)
	case *ir.WithStmt:
		in.op, in.target = opWith, l.local(s.Local)
		if in.b, err = l.operand(s.Value); err != nil {
			return in, err
		}
		for _, i := range s.Path {
			if i < 0 || i >= len(l.strings) {
				return in, fmt.Errorf("string constant %d out of range", i)
			}
			in.path = append(in.path, operand{local: -1, term: l.strings[i]})
		}
		in.body, err = l.block(s.Block)
	case *ir.ResultSetAddStmt:
		in.op, in.a = opResult, operand{local: l.local(s.Value)}
	default:
		return in, fmt.Errorf("statement %T is not supported", s)
	}
	return in, err
}

// builtin finds OPA's implementation of a built-in function the plan calls.
func (l *loader) builtin(name string) (*builtin, error) {
	if b, ok := l.builtins[name]; ok {
		return b, nil
	}
	decl, ok := l.decls[name]
	if !ok {
		return nil, fmt.Errorf("built-in function %s is not available", name)
	}
	impl := sooner[name]
	if impl == nil {
		impl = topdown.GetBuiltin(name)
	}
	if impl == nil {
		return nil, fmt.Errorf("built-in function %s has no implementation", name)
	}
	b := &builtin{name: name, impl: impl, void: decl.Decl.Result() == nil, relation: decl.Relation}
	l.builtins[name] = b
	return b, nil
}

func joinPath(p []string) string {
	n := 0
	for _, s := range p {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for i, s := range p {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, s...)
	}
	return string(b)
}
