package engine

import "unsafe"

// A Reader reads JSON text in place, for a caller that wants a few members of a larger
// document: it checks all it steps through as encoding/json does, gives the offsets of
// the values it is asked for, and steps over the rest. The keys it gives may share the
// text's memory, so they must not be kept, and the text must not change while it is read.
type Reader struct{ p scanner }

// NewReader reads text from its start.
func NewReader(text []byte) *Reader {
	return &Reader{p: scanner{s: unsafe.String(unsafe.SliceData(text), len(text))}}
}

// Members reads the object at the reader's position, calling fn with each member's key
// and the reader at the member's value, which fn reads (Value, Null, Members or
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

// Value steps over the value at the reader's position and gives the offsets of its text.
func (r *Reader) Value() (start, end int, err error) {
	r.p.space()
	start = r.p.pos
	err = r.p.skip()
	return start, r.p.pos, err
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
