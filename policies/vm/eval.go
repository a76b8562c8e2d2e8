package vm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

type function struct {
	name   string
	params []int32
	ret    int32 // the local holding the result, -1 for a plan
	blocks []block
	locals int
	memo   int // slot of the result in an evaluation's memo table, or -1
}

// A block runs its instructions in order until one is undefined, which ends the block
// (execution goes on after it), or one breaks out of it and of blocks around it.
type block []instr

type opcode uint8

const (
	opNop opcode = iota
	opReturn
	opCall
	opBuiltin
	opCallDynamic
	opBlock
	opBreak
	opDot
	opLen
	opScan
	opNot
	opAssign
	opAssignVar
	opAssignOnce
	opReset
	opMakeArray
	opMakeObject
	opMakeSet
	opEqual
	opNotEqual
	opIsArray
	opIsObject
	opIsSet
	opIsDefined
	opIsUndefined
	opArrayAppend
	opObjectInsert
	opObjectInsertOnce
	opObjectMerge
	opSetAdd
	opWith
	opResult
)

// operand is a local (local ≥ 0) or a constant (term).
type operand struct {
	local int32
	term  *ast.Term
}

type instr struct {
	op         opcode
	target     int32
	key, value int32 // ScanStmt's locals
	index      int   // BreakStmt's depth; MakeArrayStmt's capacity
	a, b       operand
	term       *ast.Term // the constant an assignment makes
	args, path []operand
	blocks     []block // BlockStmt
	body       block   // ScanStmt, NotStmt, WithStmt
	fn         *function
	bi         *builtin
	loc        *ast.Location // for errors
}

type builtin struct {
	name           string
	impl           topdown.BuiltinFunc
	void, relation bool
}

// What running a block ends with, besides a break out of n ≥ 0 more blocks.
const (
	done     = -1 // it ran to its end
	returned = -2 // a ReturnLocalStmt ended the function
)

// How often, in loop iterations and calls, an evaluation checks whether it was cancelled.
const checkEvery = 256

// eval runs the plan with input, at time now (time.now_ns), and returns its results.
// Built-in functions run as OPA runs them with strict errors: a built-in error ends the
// evaluation with it. The evaluation stops with an error when ctx ends.
func (p *prepared) eval(ctx context.Context, input *ast.Term, now time.Time) (ast.Set, error) {
	plan := p.plan
	m := machines.Get().(*machine)
	defer m.release()
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	m.p, m.cancel = plan, cancel
	m.memo = m.memoTable(plan.memos)
	m.results = ast.NewSet()
	m.bctx = topdown.BuiltinContext{
		Context: ctx,
		Metrics: noMetrics,
		Seed:    rand.Reader,
		Time:    ast.NumberTerm(json.Number(strconv.FormatInt(now.UnixNano(), 10))),
		Cancel:  cancel,
		Cache:   builtins.Cache{},
		// What the built-in functions may reach (allow_net) comes from here.
		Capabilities: p.caps,
	}
	m.slab = m.slabOf(plan.stack)
	fr := m.frame(plan.main.locals)
	fr[0], fr[1] = input, p.data
	for _, b := range plan.main.blocks {
		st, err := m.run(fr, b)
		if err != nil {
			return nil, err
		}
		if st > 0 || st == returned {
			break
		}
	}
	return m.results, nil
}

var noMetrics = metrics.NoOp()

var machines = sync.Pool{New: func() any {
	m := &machine{}
	// Made once per machine: a closure made per call would be allocated per call.
	m.collect = func(t *ast.Term) error {
		m.out = t
		m.outs = append(m.outs, t)
		return nil
	}
	return m
}}

// machine is the state of one evaluation.
type machine struct {
	p     *plan
	memo  []memoEntry
	spare []memoEntry // a memo table kept for the next evaluation
	// slab holds the locals of the calls in progress, as a stack: it is sized for the
	// deepest chain of calls the plan can make, so frames never move.
	slab    []*ast.Term
	out     *ast.Term   // a built-in's output
	outs    []*ast.Term // a relation's outputs
	collect func(*ast.Term) error
	scans   []*scanState // by nesting depth
	depth   int
	cancel  topdown.Cancel
	bctx    topdown.BuiltinContext
	results ast.Set
	ret     *ast.Term
	args    []*ast.Term
	steps   int
}

type memoEntry struct {
	set   bool
	value *ast.Term
}

func (m *machine) memoTable(n int) []memoEntry {
	if cap(m.spare) >= n {
		t := m.spare[:n]
		m.spare = nil
		clear(t)
		return t
	}
	return make([]memoEntry, n)
}

func (m *machine) slabOf(n int) []*ast.Term {
	if cap(m.slab) >= n {
		return m.slab[:0]
	}
	return make([]*ast.Term, 0, n)
}

// frame takes n cleared locals from the slab; the caller gives them back with unframe.
func (m *machine) frame(n int) []*ast.Term {
	start := len(m.slab)
	m.slab = m.slab[:start+n]
	fr := m.slab[start : start+n : start+n]
	clear(fr)
	return fr
}

func (m *machine) unframe(fr []*ast.Term) {
	clear(fr)
	m.slab = m.slab[:len(m.slab)-len(fr)]
}

func (m *machine) release() {
	if m.spare == nil {
		clear(m.memo)
		m.spare = m.memo
	}
	clear(m.args[:cap(m.args)])
	clear(m.slab[:cap(m.slab)])
	clear(m.outs[:cap(m.outs)])
	*m = machine{spare: m.spare, args: m.args[:0], slab: m.slab[:0], outs: m.outs[:0], collect: m.collect, scans: m.scans}
	machines.Put(m)
}

func (m *machine) get(fr []*ast.Term, o operand) *ast.Term {
	if o.local < 0 {
		return o.term
	}
	return fr[o.local]
}

// cancelled is checked every checkEvery steps, so that a deadline stops any loop.
func (m *machine) cancelled() error {
	m.steps++
	if m.steps%checkEvery != 0 || !m.cancel.Cancelled() {
		return nil
	}
	return &topdown.Error{Code: topdown.CancelErr, Message: "caller cancelled query execution"}
}

// run runs a block: it returns done, returned, or the number of blocks around this one
// that a break leaves too (0: only this one, which is also what an undefined statement does).
func (m *machine) run(fr []*ast.Term, b block) (int, error) {
	for i := range b {
		in := &b[i]
		switch in.op {
		case opReturn:
			m.ret = fr[in.a.local]
			return returned, nil
		case opCall:
			v, err := m.call(in.fn, fr, in.args)
			if err != nil {
				return 0, err
			}
			if v == nil {
				return 0, nil
			}
			fr[in.target] = v
		case opBuiltin:
			v, err := m.builtin(fr, in)
			if err != nil {
				return 0, err
			}
			if v == nil {
				if in.bi.void {
					continue
				}
				return 0, nil
			}
			fr[in.target] = v
		case opCallDynamic:
			fn := m.dynamic(fr, in.path)
			if fn == nil {
				// Not a rule: the plan goes on to look the path up in base data.
				return 0, nil
			}
			v, err := m.call(fn, fr, in.args)
			if err != nil {
				return 0, err
			}
			if v == nil {
				// The rule is undefined: the plan's lookup block, three levels up, is.
				return 3, nil
			}
			fr[in.target] = v
		case opBlock:
			for _, child := range in.blocks {
				st, err := m.run(fr, child)
				if err != nil {
					return 0, err
				}
				if st == returned {
					return returned, nil
				}
				if st > 0 {
					return st - 1, nil
				}
			}
		case opBreak:
			return in.index, nil
		case opDot:
			src, key := m.get(fr, in.a), m.get(fr, in.b)
			if src == nil || key == nil {
				return 0, nil
			}
			v := dot(src, key)
			if v == nil {
				return 0, nil
			}
			fr[in.target] = v
		case opLen:
			v := m.get(fr, in.a)
			if v == nil {
				return 0, nil
			}
			n, ok := length(v.Value)
			if !ok {
				return 0, nil
			}
			fr[in.target] = ast.InternedTerm(n)
		case opScan:
			st, err := m.scan(fr, in)
			if err != nil || st != done {
				return st, err
			}
		case opNot:
			st, err := m.run(fr, in.body)
			if err != nil {
				return 0, err
			}
			switch {
			case st == returned:
				return returned, nil
			case st == done:
				return 0, nil // what is negated holds
			case st > 0:
				return st - 1, nil
			}
		case opAssign:
			fr[in.target] = in.term
		case opAssignVar:
			fr[in.target] = m.get(fr, in.a)
		case opAssignOnce:
			v := m.get(fr, in.a)
			if cur := fr[in.target]; cur != nil {
				if v == nil || cur.Value.Compare(v.Value) != 0 {
					return 0, conflict(in, "complete rules must not produce multiple outputs")
				}
				continue
			}
			fr[in.target] = v
		case opReset:
			fr[in.target] = nil
		case opMakeArray:
			fr[in.target] = ast.NewTerm(ast.NewArrayWithCapacity(in.index))
		case opMakeObject:
			fr[in.target] = ast.NewTerm(ast.NewObjectWithCapacity(in.index))
		case opMakeSet:
			fr[in.target] = ast.NewTerm(ast.NewSet())
		case opEqual, opNotEqual:
			a, b := m.get(fr, in.a), m.get(fr, in.b)
			if a == nil || b == nil {
				return 0, nil
			}
			if (!sizesDiffer(a, b) && a.Value.Compare(b.Value) == 0) != (in.op == opEqual) {
				return 0, nil
			}
		case opIsArray, opIsObject, opIsSet:
			v := m.get(fr, in.a)
			if v == nil || !isType(in.op, v.Value) {
				return 0, nil
			}
		case opIsDefined:
			if fr[in.a.local] == nil {
				return 0, nil
			}
		case opIsUndefined:
			if fr[in.a.local] != nil {
				return 0, nil
			}
		case opArrayAppend:
			t, v := fr[in.target], m.get(fr, in.a)
			arr, ok := t.Value.(*ast.Array)
			if !ok || v == nil {
				return 0, fmt.Errorf("array append on %s", ast.ValueName(t.Value))
			}
			// The array was made by this plan and is not yet shared: it grows in place,
			// as in OPA's Wasm runtime.
			t.Value = arr.Append(v)
		case opObjectInsert, opObjectInsertOnce:
			t, k, v := fr[in.target], m.get(fr, in.a), m.get(fr, in.b)
			obj, ok := t.Value.(ast.Object)
			if !ok || k == nil || v == nil {
				return 0, fmt.Errorf("object insert on %s", ast.ValueName(t.Value))
			}
			if in.op == opObjectInsertOnce {
				if cur := obj.Get(k); cur != nil {
					if cur.Value.Compare(v.Value) != 0 {
						return 0, conflict(in, "object keys must be unique")
					}
					continue
				}
			}
			obj.Insert(k, v)
		case opObjectMerge:
			a, b := fr[in.a.local], fr[in.b.local]
			oa, ok1 := a.Value.(ast.Object)
			ob, ok2 := b.Value.(ast.Object)
			if !ok1 || !ok2 {
				return 0, conflict(in, "object keys must be unique")
			}
			merged, ok := oa.Merge(ob)
			if !ok {
				return 0, conflict(in, "object keys must be unique")
			}
			fr[in.target] = ast.NewTerm(merged)
		case opSetAdd:
			t, v := fr[in.target], m.get(fr, in.a)
			set, ok := t.Value.(ast.Set)
			if !ok || v == nil {
				return 0, fmt.Errorf("set add on %s", ast.ValueName(t.Value))
			}
			set.Add(v)
		case opWith:
			st, err := m.with(fr, in)
			if err != nil || st != done {
				return st, err
			}
		case opResult:
			if v := fr[in.a.local]; v != nil {
				m.results.Add(v)
			}
		}
	}
	return done, nil
}

// call runs a function with the given arguments. A rule's value is kept for the rest of
// the evaluation (or of the with statement it was computed under).
func (m *machine) call(fn *function, caller []*ast.Term, args []operand) (*ast.Term, error) {
	if fn.memo >= 0 && m.memo[fn.memo].set {
		return m.memo[fn.memo].value, nil
	}
	if err := m.cancelled(); err != nil {
		return nil, err
	}
	fr := m.frame(fn.locals)
	defer m.unframe(fr)
	for i, p := range fn.params {
		if i < len(args) {
			fr[p] = m.get(caller, args[i])
		}
	}
	var result *ast.Term
	for _, b := range fn.blocks {
		st, err := m.run(fr, b)
		if err != nil {
			return nil, err
		}
		if st == returned {
			result = m.ret
			break
		}
		if st > 0 {
			break
		}
	}
	if result == nil && fn.ret >= 0 {
		result = fr[fn.ret]
	}
	if fn.memo >= 0 {
		m.memo[fn.memo] = memoEntry{set: true, value: result}
	}
	return result, nil
}

// dynamic finds the function of a data path computed at run time (data.pod.rules[pkg]),
// or nil when the path names no rule.
func (m *machine) dynamic(fr []*ast.Term, path []operand) *function {
	var buf [256]byte
	key := buf[:0]
	for i, o := range path {
		t := m.get(fr, o)
		if t == nil {
			return nil
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			return nil
		}
		if i > 0 {
			key = append(key, 0)
		}
		key = append(key, s...)
	}
	return m.p.dynamic[string(key)]
}

func (m *machine) builtin(fr []*ast.Term, in *instr) (*ast.Term, error) {
	args := m.args[:0]
	for _, o := range in.args {
		t := m.get(fr, o)
		if t == nil {
			return nil, nil
		}
		args = append(args, t)
	}
	m.args = args
	bctx := m.bctx
	bctx.Location = in.loc
	m.out, m.outs = nil, m.outs[:0]
	err := in.bi.impl(bctx, args, m.collect)
	if err != nil {
		if h, ok := err.(topdown.Halt); ok {
			return nil, h.Err
		}
		return nil, err
	}
	if in.bi.relation {
		return ast.ArrayTerm(append([]*ast.Term(nil), m.outs...)...), nil
	}
	return m.out, nil
}

// scan runs the body once per element of a collection (none for a scalar). A break out
// of the body alone goes on with the next element; one more level ends the scan.
func (m *machine) scan(fr []*ast.Term, in *instr) (int, error) {
	src := fr[in.a.local]
	if src == nil {
		return done, nil
	}
	status := done
	var err error
	switch v := src.Value.(type) {
	case *ast.Array:
		for i := range v.Len() {
			var stop bool
			if stop, status, err = m.step(fr, in, ast.InternedTerm(i), v.Elem(i)); stop {
				break
			}
		}
	case ast.Object:
		s := m.pushScan(fr, in)
		v.Until(s.visit)
		status, err = m.popScan(s)
	case ast.Set:
		s := m.pushScan(fr, in)
		v.Until(s.visitSet)
		status, err = m.popScan(s)
	}
	return status, err
}

// scanState is a scan of an object or a set in progress. OPA iterates them through a
// callback; the callbacks are made once per machine and nesting depth, not per scan.
type scanState struct {
	m        *machine
	fr       []*ast.Term
	in       *instr
	status   int
	err      error
	visit    func(k, v *ast.Term) bool
	visitSet func(x *ast.Term) bool
}

func (s *scanState) each(k, v *ast.Term) bool {
	var stop bool
	stop, s.status, s.err = s.m.step(s.fr, s.in, k, v)
	return stop
}

func (s *scanState) eachOf(x *ast.Term) bool { return s.each(x, x) }

func (m *machine) pushScan(fr []*ast.Term, in *instr) *scanState {
	if m.depth == len(m.scans) {
		s := &scanState{m: m}
		s.visit, s.visitSet = s.each, s.eachOf
		m.scans = append(m.scans, s)
	}
	s := m.scans[m.depth]
	m.depth++
	s.fr, s.in, s.status, s.err = fr, in, done, nil
	return s
}

func (m *machine) popScan(s *scanState) (int, error) {
	m.depth--
	status, err := s.status, s.err
	s.fr, s.in, s.err = nil, nil, nil
	return status, err
}

// step runs a scan's body for one element, and says whether the scan stops there, and
// what it then ends with.
func (m *machine) step(fr []*ast.Term, in *instr, k, v *ast.Term) (bool, int, error) {
	if err := m.cancelled(); err != nil {
		return true, 0, err
	}
	fr[in.key], fr[in.value] = k, v
	st, err := m.run(fr, in.body)
	switch {
	case err != nil:
		return true, 0, err
	case st == returned:
		return true, returned, nil
	case st == 1:
		return true, done, nil
	case st > 1:
		return true, st - 2, nil
	}
	return false, done, nil
}

// with runs its body with a local (input or data) replaced, or a path in it upserted,
// and with rule values computed afresh.
func (m *machine) with(fr []*ast.Term, in *instr) (int, error) {
	orig := fr[in.target]
	v := m.get(fr, in.b)
	if len(in.path) == 0 {
		fr[in.target] = v
	} else {
		fr[in.target] = upsert(orig, in.path, v)
	}
	saved := m.memo
	m.memo = make([]memoEntry, len(saved))
	st, err := m.run(fr, in.body)
	fr[in.target], m.memo = orig, saved
	switch {
	case err != nil:
		return 0, err
	case st == done, st == returned:
		return st, nil
	case st == 0:
		return 0, nil
	}
	return st - 1, nil
}

// upsert returns a copy of node (an object, or a new one) with path set to v, copying
// only the objects along the path.
func upsert(node *ast.Term, path []operand, v *ast.Term) *ast.Term {
	obj := ast.NewObject()
	if node != nil {
		if o, ok := node.Value.(ast.Object); ok {
			o.Foreach(func(k, v *ast.Term) { obj.Insert(k, v) })
		}
	}
	if len(path) == 1 {
		obj.Insert(path[0].term, v)
	} else {
		obj.Insert(path[0].term, upsert(obj.Get(path[0].term), path[1:], v))
	}
	return ast.NewTerm(obj)
}

func dot(src, key *ast.Term) *ast.Term {
	switch v := src.Value.(type) {
	case ast.Object:
		return v.Get(key)
	case *ast.Array:
		return v.Get(key)
	case ast.Set:
		if v.Contains(key) {
			return key
		}
	}
	return nil
}

func length(v ast.Value) (int, bool) {
	switch v := v.(type) {
	case *ast.Array:
		return v.Len(), true
	case ast.Object:
		return v.Len(), true
	case ast.Set:
		return v.Len(), true
	case ast.String:
		return utf8.RuneCountInString(string(v)), true
	}
	return 0, false
}

func isType(op opcode, v ast.Value) bool {
	switch op {
	case opIsArray:
		_, ok := v.(*ast.Array)
		return ok
	case opIsObject:
		_, ok := v.(ast.Object)
		return ok
	}
	_, ok := v.(ast.Set)
	return ok
}

func conflict(in *instr, msg string) error {
	return &topdown.Error{Code: topdown.ConflictErr, Message: msg, Location: in.loc}
}
