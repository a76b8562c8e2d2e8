package engine

import (
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// scanner is podguard's one reader of JSON: the engine's, and, exported as Reader, the
// webhook's. It walks JSON text without building it: the facts the rules read are taken
// from a few known places of an object, and everything else (environments, volumes,
// annotations, managed fields) is only stepped over. Its contract:
//   - Stepping over checks the syntax as encoding/json does, nesting included (maxDepth),
//     so malformed text is an error wherever it is, and costs nothing but the pass over
//     its bytes.
//   - Strings without escapes and with printable ASCII only are slices of the text;
//     others are unquoted by encoding/json, which replaces invalid UTF-8 as it does
//     everywhere else.
//   - The text is a string, read where it lies (a Body when it comes from outside): the
//     strings read share its memory.
//
// It is hand-written because it pays: on the load benchmark's bodies,
// encoding/json/jsontext steps over a review 1.5 to 2.3 times slower and allocates for
// the strings it gives (BenchmarkJSONReaders).
type scanner struct {
	s     string
	pos   int
	depth int
	// limit is the deepest nesting read, maxDepth when 0.
	limit int
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// depthError is JSON nested deeper than the scanner reads.
type depthError struct{ pos, limit int }

func (e *depthError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: nested more than %d deep", e.pos, e.limit)
}

// errorf is a syntax error at the scanner's position; the end of the text is named as
// such, whatever was expected there.
func (p *scanner) errorf(format string, args ...any) error {
	if p.pos >= len(p.s) {
		return fmt.Errorf("invalid JSON at offset %d: unexpected end of input", p.pos)
	}
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// deeper steps one level deeper into the text: an error past the limit.
func (p *scanner) deeper() error {
	limit := p.limit
	if limit == 0 {
		limit = maxDepth
	}
	if p.depth++; p.depth > limit {
		return &depthError{p.pos, limit}
	}
	return nil
}

func (p *scanner) space() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek returns the first byte of the next value (0 at the end).
func (p *scanner) peek() byte {
	p.space()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

// members calls fn for each member of the object that starts here, with the scanner at the
// member's value; fn must consume the value. A value that is not an object is skipped and
// isObject is false.
func (p *scanner) members(fn func(key string) error) (isObject bool, err error) {
	if p.peek() != '{' {
		return false, p.skip()
	}
	if err := p.deeper(); err != nil {
		return true, err
	}
	p.pos++
	if p.peek() == '}' {
		p.pos++
		p.depth--
		return true, nil
	}
	for {
		if p.peek() != '"' {
			return true, p.errorf("expected a member name")
		}
		key, err := p.str()
		if err != nil {
			return true, err
		}
		if p.peek() != ':' {
			return true, p.errorf("expected ':'")
		}
		p.pos++
		p.space()
		if err := fn(key); err != nil {
			return true, err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			return true, nil
		default:
			return true, p.errorf("expected ',' or '}'")
		}
	}
}

// elements calls fn for each element of the array that starts here, as members does.
func (p *scanner) elements(fn func(i int) error) (isArray bool, err error) {
	if p.peek() != '[' {
		return false, p.skip()
	}
	if err := p.deeper(); err != nil {
		return true, err
	}
	p.pos++
	if p.peek() == ']' {
		p.pos++
		p.depth--
		return true, nil
	}
	for i := 0; ; i++ {
		if err := fn(i); err != nil {
			return true, err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			return true, nil
		default:
			return true, p.errorf("expected ',' or ']'")
		}
	}
}

// span returns the text of the value that starts here, and steps over it.
func (p *scanner) span() (string, error) {
	p.space()
	start := p.pos
	err := p.skip()
	return p.s[start:p.pos], err
}

// skip steps over one value, checking its syntax.
func (p *scanner) skip() error {
	switch c := p.peek(); {
	case c == '{':
		_, err := p.members(func(string) error { return p.skip() })
		return err
	case c == '[':
		_, err := p.elements(func(int) error { return p.skip() })
		return err
	case c == '"':
		_, _, err := p.strSpan()
		return err
	case c == '-' || isDigit(c):
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == 0:
		return p.errorf("unexpected end of input")
	}
	return p.errorf("unexpected character %q", p.s[p.pos])
}

func (p *scanner) literal(word string) error {
	if len(p.s)-p.pos < len(word) || p.s[p.pos:p.pos+len(word)] != word {
		return p.errorf("invalid literal")
	}
	p.pos += len(word)
	return nil
}

// number checks the JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *scanner) number() error {
	if p.s[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.s) && p.s[p.pos] == '0':
		p.pos++
	case p.digits() == 0:
		return p.errorf("invalid number")
	}
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return p.errorf("invalid number")
		}
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return p.errorf("invalid number")
		}
	}
	return nil
}

func (p *scanner) digits() int {
	n := 0
	for p.pos < len(p.s) && isDigit(p.s[p.pos]) {
		p.pos++
		n++
	}
	return n
}

// strSpan steps over a string and returns its text between the quotes, and whether that
// text is the string itself (no escapes, printable ASCII only).
func (p *scanner) strSpan() (text string, plain bool, err error) {
	start := p.pos + 1
	plain = true
	for i := start; ; {
		k := special(p.s[i:])
		if k < 0 {
			p.pos = len(p.s)
			return "", false, p.errorf("unterminated string")
		}
		i += k
		switch c := p.s[i]; {
		case c == '"':
			p.pos = i + 1
			return p.s[start:i], plain, nil
		case c == '\\':
			plain = false
			n := escapeLen(p.s[i:])
			if n == 0 {
				p.pos = i
				return "", false, p.errorf("invalid escape in string")
			}
			i += n // the escaped character: a quote or backslash must not end the scan
		case c < 0x20:
			p.pos = i
			return "", false, p.errorf("control character in string")
		default: // non-ASCII
			plain = false
			i++
		}
	}
}

// escapeLen is the length of the escape sequence s starts with (\n, \u00e9, ...), or 0 when
// it is not one JSON allows.
func escapeLen(s string) int {
	if len(s) < 2 {
		return 0
	}
	switch s[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(s) < 6 {
			return 0
		}
		for _, c := range []byte(s[2:6]) {
			if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'f') {
				return 0
			}
		}
		return 6
	}
	return 0
}

// special returns the index of the first byte of s that ends or interrupts plain string
// text (a quote, a backslash, a control character or a non-ASCII byte), or -1. It looks
// at eight bytes at a time: strings are most of the bytes of an object.
func special(s string) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		quote := w ^ (ones * '"')
		backslash := w ^ (ones * '\\')
		// A byte is zero in x exactly when (x - 0x01) & ^x & 0x80 is set for it; bytes below
		// 0x20 and from 0x80 up are caught by the same test on w - 0x20 and by w's high bits.
		if ((quote-ones)&^quote|(backslash-ones)&^backslash|(w-ones*0x20)|w)&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
	}
	return -1
}

// str reads a string.
func (p *scanner) str() (string, error) {
	start := p.pos
	text, plain, err := p.strSpan()
	if err != nil || plain {
		return text, err
	}
	return unquote(p.s[start:p.pos])
}

// unquote decodes a JSON string literal (quotes included) as encoding/json does.
func unquote(lit string) (string, error) {
	var s string
	if err := json.Unmarshal([]byte(lit), &s); err != nil {
		return "", err
	}
	return s, nil
}

// stringValue reads a value that should be a string: ok is false (and the value skipped)
// when it is something else.
func (p *scanner) stringValue() (s string, ok bool, err error) {
	if p.peek() != '"' {
		return "", false, p.skip()
	}
	s, err = p.str()
	return s, err == nil, err
}

// jsonValue converts JSON text to an OPA value in one pass; "" gives empty.
func jsonValue(text string, empty ast.Value) (ast.Value, error) {
	if text == "" {
		return empty, nil
	}
	p := scanner{s: text}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if p.peek() != 0 {
		return nil, p.errorf("data after the value")
	}
	return v, nil
}

func (p *scanner) value() (ast.Value, error) {
	switch c := p.peek(); {
	case c == '{':
		obj := ast.NewObjectWithCapacity(4)
		_, err := p.members(func(key string) error {
			v, err := p.value()
			if err == nil {
				obj.Insert(ast.InternedTerm(key), ast.NewTerm(v)) // a repeated key: the last one wins
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		return obj, nil
	case c == '[':
		terms := make([]*ast.Term, 0, 4)
		_, err := p.elements(func(int) error {
			v, err := p.value()
			terms = append(terms, ast.NewTerm(v))
			return err
		})
		if err != nil {
			return nil, err
		}
		return ast.NewArray(terms...), nil
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return ast.String(s), nil
	case c == '-' || isDigit(c):
		start := p.pos
		if err := p.number(); err != nil {
			return nil, err
		}
		return ast.Number(p.s[start:p.pos]), nil
	case c == 't':
		return ast.Boolean(true), p.literal("true")
	case c == 'f':
		return ast.Boolean(false), p.literal("false")
	case c == 'n':
		return ast.Null{}, p.literal("null")
	}
	return nil, p.skip()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// A Reader reads a Body, for a caller that wants a few members of a larger document: it
// checks all it steps through as encoding/json does, gives the values it is asked for
// (slices of the body, not copies), and steps over the rest.
type Reader struct{ p scanner }

// NewReader reads body from its start.
func NewReader(body Body) *Reader {
	return &Reader{p: scanner{s: body.text}}
}

// LimitDepth makes the reader refuse text nested deeper than depth (at most
// encoding/json's 10,000): each level read costs a few hundred bytes of stack.
func (r *Reader) LimitDepth(depth int) {
	r.p.limit = min(depth, maxDepth)
}

// Members reads the object at the reader's position, calling fn with each member's key
// and the reader at the member's value, which fn reads (Value, String, Null, Members or
// Elements); an error from fn ends the reading with it. isObject is false, and nothing
// is read, when the value there is not an object.
func (r *Reader) Members(fn func(key string) error) (isObject bool, err error) {
	if r.p.peek() != '{' {
		return false, nil
	}
	return r.p.members(fn)
}

// Elements reads the array at the reader's position as Members reads an object.
func (r *Reader) Elements(fn func() error) (isArray bool, err error) {
	if r.p.peek() != '[' {
		return false, nil
	}
	return r.p.elements(func(int) error { return fn() })
}

// Value steps over the value at the reader's position and gives its text.
func (r *Reader) Value() (Body, error) {
	text, err := r.p.span()
	return Body{text}, err
}

// String reads the string at the reader's position, unescaped; isString is false, and
// the value is stepped over, when it is something else.
func (r *Reader) String() (s string, isString bool, err error) {
	return r.p.stringValue()
}

// Span calls read, which reads one value at the reader's position, and gives the
// value's text.
func (r *Reader) Span(read func() error) (Body, error) {
	r.p.space()
	start := r.p.pos
	err := read()
	return Body{r.p.s[start:r.p.pos]}, err
}

// Null steps over a null at the reader's position; it is false, and nothing is read,
// when the value there is something else.
func (r *Reader) Null() bool {
	return r.p.peek() == 'n' && r.p.literal("null") == nil
}

// End checks that nothing but space follows what has been read.
func (r *Reader) End() error {
	if r.p.space(); r.p.pos != len(r.p.s) {
		return r.p.errorf("data after the value")
	}
	return nil
}
