package webhook

// estimatedCost is an upper bound of the memory answering a review takes, from the shape
// of its body: decoding the review (controller-runtime), then the object into maps and
// slices, then into OPA values. What costs is structure, not bytes: 6 MB of one string
// takes about 40 MB, 6 MB of {"a":0} objects about 600 MB. /mutate also copies the
// object, encodes it and compares the two to build the patch, which takes up to half as
// much again. TestEstimatedCostBoundsMemory keeps the factors above what the handlers
// take, for bodies of every shape.
func estimatedCost(hook string, body []byte) int64 {
	s := shapeOf(body)
	cost := s.bytes*costPerByte + s.separators*costPerElement + s.members*costPerMember + s.containers*costPerContainer
	if hook == webhookMutate {
		cost += cost / 2
	}
	return cost
}

const (
	costPerByte      = 10
	costPerElement   = 120
	costPerMember    = 270
	costPerContainer = 500
)

// jsonShape counts what drives that memory: the bytes, the objects and arrays (each a
// map or slice, then an OPA value), the object members (each a map entry and a term) and
// the separators between members and elements (each an interface value and a term).
type jsonShape struct {
	bytes, containers, members, separators int64
}

// shapeOf counts in one pass without allocating. It does not validate: the decoder
// does, later, and refuses what this pass counted wrong.
func shapeOf(body []byte) jsonShape {
	s := jsonShape{bytes: int64(len(body))}
	inString := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			s.containers++
		case ':':
			s.members++
		case ',':
			s.separators++
		}
	}
	return s
}
