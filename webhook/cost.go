package webhook

import (
	"fmt"

	"github.com/podguard/podguard/policies/engine"
)

// cost is an upper bound of the memory answering a review takes, from the shape
// of its body. Decoding the review and reading the object's facts cost a few times its
// bytes, each label a few hundred bytes more (the labels become a value that rules read,
// input.labels), and each container of a PodSpec its facts and violations (up to about
// 12 KiB for an empty container that breaks every rule, when a rule also reads the whole
// object). That is all /mutate ever takes: it reads facts, and writes its patch from the
// defaults it adds. What else costs is structure, not bytes, when the object is made into
// values: 6 MB of one string takes about 40 MB, 6 MB of {"a":0} objects about 600 MB.
// That happens on /validate when a rule reads the object itself (input.object or
// input.spec), which is then converted. TestEstimatedCostBoundsMemory keeps the factors
// above what the handlers take, and within a few times of it, for bodies of every shape.
func (s jsonShape) cost(hook string, readsObject bool) int64 {
	if hook == webhookMutate || !readsObject {
		return s.bytes*costPerByteRead + s.labels*costPerLabel + s.podContainers*costPerPodContainer
	}
	// A label is a member of a map of strings, which costs less than members in general.
	return s.bytes*costPerByte + max(s.separators-s.labels, 0)*costPerElement + (s.members-s.labels)*costPerMember +
		s.labels*costPerLabel + s.containers*costPerContainer + s.podContainers*costPerPodContainer
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

// shapeOf counts in one pass of podguard's JSON reader, which checks the body's syntax on
// the way: a body that is not JSON is refused before anything decodes it. An object in
// an array that follows a container list's key is counted as a PodSpec container
// wherever it is, and an object that follows the key labels or annotations as an
// object's labels or annotations: counting too many only makes the estimate safer, and
// outside metadata no field of a Pod or workload has these names.
func shapeOf(body engine.Body) (jsonShape, error) {
	w := shapeWalk{r: newReader(body), shape: jsonShape{bytes: int64(body.Len())}}
	if err := w.value(anywhere); err != nil {
		return w.shape, err
	}
	return w.shape, w.r.End()
}

// place is where a value is, as far as the shape is concerned.
type place uint8

const (
	anywhere place = iota
	containerList
	podContainer // an element of a container list
	labelsMap
	labelValue
	annotationsMap
	annotationValue
)

// placeOf is the place of a member's value by the member's key. A switch, not a map: it
// runs for every member of every body, and most keys are told apart by length.
func placeOf(key string) place {
	switch key {
	case "containers", "initContainers", "ephemeralContainers":
		return containerList
	case "labels":
		return labelsMap
	case "annotations":
		return annotationsMap
	}
	return anywhere
}

type shapeWalk struct {
	r     *engine.Reader
	shape jsonShape
	// annotationBytes counts the keys and values of the annotations being read.
	annotationBytes int64
}

// value counts the value at the reader's position, which is at place.
func (w *shapeWalk) value(at place) error {
	s := &w.shape
	n := int64(0)
	if at == annotationsMap {
		w.annotationBytes = 0
	}
	isObject, err := w.r.Members(func(key string) error {
		n++
		s.members++
		next := placeOf(key)
		switch at {
		case labelsMap:
			s.labels++
			next = labelValue
			if len(key) > labelKeyLimit && s.invalid == "" {
				s.invalid = fmt.Sprintf("a label's key is %d characters long, more than the %d the API server allows", len(key), labelKeyLimit)
			}
		case annotationsMap:
			next = annotationValue
			w.annotationBytes += int64(len(key))
		}
		return w.value(next)
	})
	if isObject {
		s.containers++
		if at == podContainer {
			s.podContainers++
		}
		s.separators += max(n-1, 0)
		return err
	}
	isArray, err := w.r.Elements(func() error {
		n++
		if at == containerList {
			return w.value(podContainer)
		}
		return w.value(anywhere)
	})
	if isArray {
		s.containers++
		s.separators += max(n-1, 0)
		return err
	}
	if at != labelValue && at != annotationValue {
		_, err := w.r.Value()
		return err
	}
	text, _, err := w.r.String()
	switch {
	case s.invalid != "":
	case at == labelValue && len(text) > labelValueLimit:
		s.invalid = fmt.Sprintf("a label's value is %d characters long, more than the %d the API server allows", len(text), labelValueLimit)
	case at == annotationValue:
		if w.annotationBytes += int64(len(text)); w.annotationBytes > annotationBytesLimit {
			s.invalid = fmt.Sprintf("the annotations of an object hold more than %d bytes (256 KiB) of keys and values, the most the API server allows", annotationBytesLimit)
		}
	}
	return err
}
