package engine

import (
	"errors"
	"unsafe"
)

// Members steps through the members of the JSON object in text, calling fn with each
// member's key and the offsets of its value's text, until fn returns false. What it steps
// through is checked as encoding/json checks it; when fn never returns false that is all
// of text, with nothing but space after the object. isObject is false, and nothing is
// read, when text does not start with an object. It reads text in place: the key given
// to fn may share its memory, so fn must not keep it, and text must not change during
// the call.
func Members(text []byte, fn func(key string, start, end int) bool) (isObject bool, err error) {
	p := scanner{s: unsafe.String(unsafe.SliceData(text), len(text))}
	if p.peek() != '{' {
		return false, nil
	}
	isObject, err = p.members(func(key string) error {
		start := p.pos
		if err := p.skip(); err != nil {
			return err
		}
		if !fn(key, start, p.pos) {
			return errStopped
		}
		return nil
	})
	switch {
	case err == errStopped:
		return true, nil
	case err != nil || !isObject:
		return isObject, err
	}
	if p.space(); p.pos != len(p.s) {
		return true, p.errorf("data after the object")
	}
	return true, nil
}

var errStopped = errors.New("stopped")

// Elements steps through the elements of the JSON array in text as Members steps through
// an object's members. isArray is false, and nothing is read, when text does not start
// with an array.
func Elements(text []byte, fn func(start, end int) bool) (isArray bool, err error) {
	p := scanner{s: unsafe.String(unsafe.SliceData(text), len(text))}
	if p.peek() != '[' {
		return false, nil
	}
	isArray, err = p.elements(func(int) error {
		p.space()
		start := p.pos
		if err := p.skip(); err != nil {
			return err
		}
		if !fn(start, p.pos) {
			return errStopped
		}
		return nil
	})
	switch {
	case err == errStopped:
		return true, nil
	case err != nil || !isArray:
		return isArray, err
	}
	if p.space(); p.pos != len(p.s) {
		return true, p.errorf("data after the array")
	}
	return true, nil
}
