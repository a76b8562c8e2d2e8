package webhook

import "bytes"

// estimatedCost is an upper bound of the memory answering a review takes, from the shape
// of its body. Decoding the review and reading the object's facts cost a few times its
// bytes, and each container of a PodSpec its facts and violations (up to about 12 KiB for
// an empty container that breaks every rule, when a rule also reads the whole object).
// What else costs is structure, not bytes, when the object is made into values: 6 MB of
// one string takes about 40 MB, 6 MB of {"a":0} objects about 600 MB. That happens on
// /mutate, which decodes the object into maps to add the defaults, then encodes it and
// compares the two to build the patch (half as much again), and on /validate when a rule
// reads the object itself (input.object or input.spec), which is then converted.
// TestEstimatedCostBoundsMemory keeps the factors above what the handlers take, for
// bodies of every shape.
func estimatedCost(hook string, body []byte, readsObject bool) int64 {
	s := shapeOf(body)
	if hook == webhookValidate && !readsObject {
		return s.bytes*costPerByteRead + s.podContainers*costPerPodContainer
	}
	cost := s.bytes*costPerByte + s.separators*costPerElement + s.members*costPerMember + s.containers*costPerContainer +
		s.podContainers*costPerPodContainer
	if hook == webhookMutate {
		cost += cost / 2
	}
	return cost
}

const (
	costPerByteRead     = 10
	costPerPodContainer = 16 << 10
	costPerByte         = 10
	costPerElement      = 120
	costPerMember       = 270
	costPerContainer    = 500
)

// jsonShape counts what drives that memory: the bytes, the objects and arrays (each a
// map or slice, then an OPA value), the object members (each a map entry and a term),
// the separators between members and elements (each an interface value and a term),
// and the objects in arrays named containers, initContainers or ephemeralContainers,
// the containers of a PodSpec wherever it is.
type jsonShape struct {
	bytes, containers, members, separators, podContainers int64
}

// shapeOf counts in one pass without allocating. It does not validate: the decoder
// does, later, and refuses what this pass counted wrong. An object in an array that
// follows a container list's key is counted as a PodSpec container wherever it is:
// counting too many only makes the estimate safer.
func shapeOf(body []byte) jsonShape {
	s := jsonShape{bytes: int64(len(body))}
	var lists depthSet // the open arrays that are container lists, by depth
	depth := 0
	var key []byte    // the last string, which is a member's key when ':' follows
	listNext := false // the last key names a container list, whose '[' comes next
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			end := stringEnd(body, i+1)
			key, i = body[i+1:end], end
		case ':':
			s.members++
			listNext = isContainerList(key)
		case '[':
			s.containers++
			depth++
			lists.set(depth, listNext)
			listNext = false
		case '{':
			s.containers++
			if lists.has(depth) {
				s.podContainers++
			}
			depth++
			lists.set(depth, false)
			listNext = false
		case ']', '}':
			depth = max(depth-1, 0)
		case ',':
			s.separators++
		}
	}
	return s
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
