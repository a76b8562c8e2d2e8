package webhook

import (
	"bytes"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// cost is an upper bound of the memory answering a review takes, from the shape
// of its body. Decoding the review and reading the object's facts cost a few times its
// bytes, each label a few hundred bytes more (the labels become a value that rules read,
// input.labels), and each container of a PodSpec its facts and violations (up to about
// 12 KiB for an empty container that breaks every rule, when a rule also reads the whole
// object). What else costs is structure, not bytes, when the object is made into values:
// 6 MB of one string takes about 40 MB, 6 MB of {"a":0} objects about 600 MB. That
// happens on /mutate, which decodes the object into maps to add the defaults, then
// encodes it and compares the two to build the patch (half as much again), and on
// /validate when a rule reads the object itself (input.object or input.spec), which is
// then converted. TestEstimatedCostBoundsMemory keeps the factors above what the handlers
// take, and within a few times of it, for bodies of every shape.
func (s jsonShape) cost(hook string, readsObject bool) int64 {
	if hook == webhookValidate && !readsObject {
		return s.bytes*costPerByteRead + s.labels*costPerLabel + s.podContainers*costPerPodContainer
	}
	// A label is a member of a map of strings, which costs less than members in general.
	cost := s.bytes*costPerByte + max(s.separators-s.labels, 0)*costPerElement + (s.members-s.labels)*costPerMember +
		s.labels*costPerLabel + s.containers*costPerContainer + s.podContainers*costPerPodContainer
	if hook == webhookMutate {
		cost += cost / 2
	}
	return cost
}

const (
	costPerByteRead     = 10
	costPerPodContainer = 16 << 10
	// A label is a map entry and two strings while read, then an object member of two
	// terms: about 160 bytes of heap each, measured.
	costPerLabel     = 240
	costPerByte      = 10
	costPerElement   = 120
	costPerMember    = 270
	costPerContainer = 500
)

// jsonShape counts what drives that memory: the bytes, the objects and arrays (each a
// map or slice, then an OPA value), the object members (each a map entry and a term),
// the separators between members and elements (each an interface value and a term),
// the members of objects named labels, and the objects in arrays named containers,
// initContainers or ephemeralContainers, the containers of a PodSpec wherever it is.
// invalid says why the body holds metadata the API server never sends, "" when it does
// not.
type jsonShape struct {
	bytes, containers, members, separators, podContainers, labels int64
	invalid                                                       string
}

// The API server's bounds on an object's metadata (k8s.io/apimachinery's ValidateLabels
// and ValidateAnnotations), checked before mutating webhooks' patches are applied and
// before validating webhooks are called: an object beyond them is refused whatever its
// webhooks say. A label's count is not bounded, only its size, and so the body's size
// bounds it.
const (
	// annotationBytesLimit bounds the keys and values of an object's annotations together
	// (TotalAnnotationSizeLimitB).
	annotationBytesLimit = 256 << 10
	// labelKeyLimit is a DNS subdomain prefix of 253, a slash and a name of 63.
	labelKeyLimit   = 253 + 1 + 63
	labelValueLimit = 63
)

// shapeOf counts in one pass without allocating. It does not validate: the decoder
// does, later, and refuses what this pass counted wrong. An object in an array that
// follows a container list's key is counted as a PodSpec container wherever it is, and
// an object that follows the key labels or annotations as an object's labels or
// annotations: counting too many only makes the estimate safer, and outside metadata no
// field of a Pod or workload has these names.
func shapeOf(body []byte) jsonShape {
	s := jsonShape{bytes: int64(len(body))}
	// The open arrays that are container lists, and the open objects that are labels
	// or annotations, by depth.
	var lists, labels, annotations depthSet
	depth := 0
	var key []byte    // the last string, which is a member's key when ':' follows
	listNext := false // the last key names a container list, whose '[' comes next
	var next metadataMap
	value := false // the next string is a member's value
	var annotationBytes int64
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			end := stringEnd(body, i+1)
			text := body[i+1 : end]
			if value && s.invalid == "" {
				switch {
				case labels.has(depth):
					if n := decodedLen(text); n > labelValueLimit {
						s.invalid = fmt.Sprintf("a label's value is %d characters long, more than the %d the API server allows", n, labelValueLimit)
					}
				case annotations.has(depth):
					annotationBytes += decodedLen(text)
					if annotationBytes > annotationBytesLimit {
						s.invalid = fmt.Sprintf("the annotations of an object hold more than %d bytes (256 KiB) of keys and values, the most the API server allows", annotationBytesLimit)
					}
				}
			}
			key, i, value = text, end, false
		case ':':
			s.members++
			listNext = isContainerList(key)
			next = metadataMapOf(key)
			value = true
			switch {
			case labels.has(depth):
				s.labels++
				if n := decodedLen(key); n > labelKeyLimit && s.invalid == "" {
					s.invalid = fmt.Sprintf("a label's key is %d characters long, more than the %d the API server allows", n, labelKeyLimit)
				}
			case annotations.has(depth):
				annotationBytes += decodedLen(key)
			}
		case '[':
			s.containers++
			depth++
			lists.set(depth, listNext)
			labels.set(depth, false)
			annotations.set(depth, false)
			listNext, next, value = false, noMap, false
		case '{':
			s.containers++
			if lists.has(depth) {
				s.podContainers++
			}
			depth++
			lists.set(depth, false)
			labels.set(depth, next == labelsMap)
			annotations.set(depth, next == annotationsMap)
			if next == annotationsMap {
				annotationBytes = 0
			}
			listNext, next, value = false, noMap, false
		case ']', '}':
			depth = max(depth-1, 0)
			next, value = noMap, false
		case ',':
			s.separators++
			next, value = noMap, false
		}
	}
	return s
}

// metadataMap names the maps of an object's metadata that the API server bounds.
type metadataMap uint8

const (
	noMap metadataMap = iota
	labelsMap
	annotationsMap
)

func metadataMapOf(key []byte) metadataMap {
	switch string(key) {
	case "labels":
		return labelsMap
	case "annotations":
		return annotationsMap
	}
	return noMap
}

// decodedLen is the length in bytes of a JSON string's text once unescaped, as the API
// server counts it. Invalid escapes count as written: the decoder refuses them later.
func decodedLen(text []byte) int64 {
	if bytes.IndexByte(text, '\\') < 0 {
		return int64(len(text))
	}
	var n int64
	for i := 0; i < len(text); i++ {
		if text[i] != '\\' || i+1 == len(text) {
			n++
			continue
		}
		if text[i+1] != 'u' || i+6 > len(text) {
			n++
			i++
			continue
		}
		c, ok := hex4(text[i+2 : i+6])
		if !ok {
			n += 2
			i++
			continue
		}
		i += 5
		if !utf16.IsSurrogate(c) {
			n += int64(utf8.RuneLen(c))
			continue
		}
		// A pair is one character of four bytes; a lone surrogate becomes U+FFFD, of three.
		if i+7 <= len(text) && text[i+1] == '\\' && text[i+2] == 'u' {
			if lo, ok := hex4(text[i+3 : i+7]); ok && utf16.DecodeRune(c, lo) != utf8.RuneError {
				n += 4
				i += 6
				continue
			}
		}
		n += 3
	}
	return n
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// stringEnd is the index of the quote that ends the string whose text starts at start,
// or len(body) when none does: the quote not escaped by the backslashes before it.
// Strings are most of a body's bytes, which IndexByte steps over many at a time.
func stringEnd(body []byte, start int) int {
	for i := start; ; {
		q := bytes.IndexByte(body[i:], '"')
		if q < 0 {
			return len(body)
		}
		i += q
		n := 0
		for j := i - 1; j >= start && body[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return i
		}
		i++
	}
}

// isContainerList is true for the names of a PodSpec's container lists. A switch, not a
// map: it runs for every member of every body, and most keys are told apart by length.
func isContainerList(key []byte) bool {
	switch string(key) {
	case "containers", "initContainers", "ephemeralContainers":
		return true
	}
	return false
}

// depthSet is a set of nesting depths, up to the deepest JSON the decoders accept;
// deeper ones are never in it.
type depthSet [10000/64 + 1]uint64

func (d *depthSet) set(depth int, in bool) {
	if depth/64 >= len(d) {
		return
	}
	if in {
		d[depth/64] |= 1 << (depth % 64)
	} else {
		d[depth/64] &^= 1 << (depth % 64)
	}
}

func (d *depthSet) has(depth int) bool {
	return depth/64 < len(d) && d[depth/64]&(1<<(depth%64)) != 0
}
