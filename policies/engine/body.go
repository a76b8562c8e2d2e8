package engine

import (
	"errors"
	"io"
	"unsafe"
)

// Body is JSON text that cannot change: what the engine reads in place. The strings read
// from a Body (keys, values, the objects of a review) are slices of its text rather than
// copies, which for a 100 KB Pod is most of what judging it would otherwise allocate.
// That is safe only because no one holds the bytes behind a Body: it is made by
// ReadBody, which fills a buffer of its own and never hands it out, or by BodyOf, which
// copies.
type Body struct{ text string }

// BodyOf is a Body of a copy of text.
func BodyOf(text []byte) Body { return Body{string(text)} }

// String is the body's text.
func (b Body) String() string { return b.text }

// Len is the length of the body's text in bytes.
func (b Body) Len() int { return len(b.text) }

// Empty is true for a body of no text: an object that the request does not carry.
func (b Body) Empty() bool { return len(b.text) == 0 }

// ReadBody reads r to its end into a Body. grow gives the capacity of the buffer that
// holds what has been read: it is called with 0 first, then with the capacity in use
// each time the buffer is full, and must return a larger one or an error, which ends the
// reading (the caller's own for a body past its limit). The caller bounds the
// memory a body takes through it; the buffer is copied into each larger one.
func ReadBody(r io.Reader, grow func(capacity int) (int, error)) (Body, error) {
	size, err := grow(0)
	if err != nil {
		return Body{}, err
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			next, err := grow(cap(buf))
			if err != nil {
				return Body{}, err
			}
			if next <= cap(buf) {
				return Body{}, errors.New("reading a body: its buffer did not grow")
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			// buf is never written again, nor seen by anyone but the Body.
			return Body{unsafe.String(unsafe.SliceData(buf), len(buf))}, nil
		}
		if err != nil {
			return Body{}, err
		}
	}
}
