package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/podguard/podguard/policies/quantity"
)

// The facts of a Pod: what the rules read about it, taken from the object's JSON in one pass
// by Go, so that a rule is a lookup rather than a walk over the object. Quantities are read
// here, once, with the API server's semantics (package quantity); images are split into name, tag
// and digest; each container knows its type, index, field path and whether the kubelet keeps
// it running.

// containerTypes are the container lists of a PodSpec, in the order the API documents them.
var containerTypes = [...]string{"containers", "initContainers", "ephemeralContainers"}

// probeKeys are the probes of a container; probeHandlers the ways a probe can check.
var (
	probeKeys     = [...]string{"livenessProbe", "readinessProbe", "startupProbe"}
	probeHandlers = [...]string{"exec", "httpGet", "tcpSocket", "grpc"}
)

// podFacts is what the rules read about the Pod an object stands for.
type podFacts struct {
	// labels is the JSON text of the Pod's (or pod template's) labels, "" when absent.
	labels     string
	containers []containerFacts
	// resources are the pod-level resources (spec.resources).
	resources resourceFacts
}

type containerFacts struct {
	typ           string // one of containerTypes
	index         int
	name          string
	image         string // "" when absent or not a string
	restartPolicy string
	resources     resourceFacts
	// probes[i] is the probe of probeKeys[i]; handlers has bit j set for probeHandlers[j].
	probes [len(probeKeys)]probeFacts
}

type probeFacts struct {
	set      bool
	handlers uint8
}

type resourceFacts struct {
	requests, limits []resourceValue
}

func (r *resourceFacts) section(name string) *[]resourceValue {
	if name == "limits" {
		return &r.limits
	}
	return &r.requests
}

// get returns the value of a resource in a section, or nil.
func get(values []resourceValue, name string) *resourceValue {
	for i := range values {
		if values[i].name == name {
			return &values[i]
		}
	}
	return nil
}

// resourceValue is one entry of requests or limits: the value as written (its JSON text),
// and the quantity it reads as, or why it cannot be read.
type resourceValue struct {
	name string
	raw  string
	q    quantity.Value
	err  error
}

// readResourceValue reads a quantity as the API server decodes one: a string's text between
// its quotes without unescaping, trimmed of spaces, or a number's text.
func readResourceValue(name, raw string) resourceValue {
	v := resourceValue{name: name, raw: raw}
	text := raw
	switch {
	case len(raw) >= 2 && raw[0] == '"':
		text = strings.TrimSpace(raw[1 : len(raw)-1])
	case raw[0] == '-' || isDigit(raw[0]):
	default:
		v.err = quantity.ErrFormat
		return v
	}
	v.q, v.err = quantity.Read(text)
	return v
}

// MaxContainers bounds the containers of one PodSpec, of all types together, that
// podguard reads. Each costs its facts and, when it breaks rules, its violations and
// their lines in the answer, so a body of empty containers (a few bytes each) would
// otherwise cost thousands of times its size. No Pod the kubelet could run comes near.
const MaxContainers = 1000

// readPodSpec reads the facts of a PodSpec. The last of repeated keys wins, as in
// encoding/json.
func (p *scanner) readPodSpec(f *podFacts) error {
	var lists [len(containerTypes)][]containerFacts
	_, err := p.members(func(key string) error {
		for t, name := range containerTypes {
			if key == name {
				lists[t] = nil
				_, err := p.elements(func(i int) error {
					if n := len(lists[0]) + len(lists[1]) + len(lists[2]); n >= MaxContainers {
						return fmt.Errorf("the PodSpec has more than %d containers, init containers and ephemeral containers together; podguard judges Pods of up to %d", MaxContainers, MaxContainers)
					}
					c := containerFacts{typ: containerTypes[t], index: i}
					isObject, err := p.readContainer(&c)
					if isObject {
						lists[t] = append(lists[t], c)
					}
					return err
				})
				return err
			}
		}
		if key == "resources" {
			f.resources = resourceFacts{}
			return p.readResources(&f.resources)
		}
		return p.skip()
	})
	f.containers = slices.Concat(lists[:]...)
	return err
}

func (p *scanner) readContainer(c *containerFacts) (isObject bool, err error) {
	return p.members(func(key string) error {
		var err error
		switch key {
		case "name":
			c.name, _, err = p.stringValue()
		case "image":
			c.image, _, err = p.stringValue()
		case "restartPolicy":
			c.restartPolicy, _, err = p.stringValue()
		case "resources":
			c.resources = resourceFacts{}
			err = p.readResources(&c.resources)
		case "livenessProbe":
			c.probes[0], err = p.readProbe()
		case "readinessProbe":
			c.probes[1], err = p.readProbe()
		case "startupProbe":
			c.probes[2], err = p.readProbe()
		default:
			err = p.skip()
		}
		return err
	})
}

// readProbe reads which handlers a probe uses. null is no probe; anything else is a probe,
// with the handlers whose value is not null.
func (p *scanner) readProbe() (probeFacts, error) {
	if p.peek() == 'n' {
		return probeFacts{}, p.skip()
	}
	f := probeFacts{set: true}
	_, err := p.members(func(key string) error {
		for j, h := range probeHandlers {
			if key == h {
				if p.peek() == 'n' {
					f.handlers &^= 1 << j
				} else {
					f.handlers |= 1 << j
				}
			}
		}
		return p.skip()
	})
	return f, err
}

// readResources reads requests and limits. A value that is missing, null or "" is not set.
func (p *scanner) readResources(r *resourceFacts) error {
	_, err := p.members(func(key string) error {
		if key != "requests" && key != "limits" {
			return p.skip()
		}
		var values []resourceValue
		var index map[string]int // by name, once there are more than a few
		_, err := p.members(func(name string) error {
			raw, err := p.span()
			if err != nil {
				return err
			}
			i, seen := -1, false
			if index != nil {
				i, seen = index[name]
			} else {
				for j := range values {
					if values[j].name == name {
						i, seen = j, true
					}
				}
			}
			if raw == "null" || raw == `""` {
				if seen { // a repeated key: the last one wins, and it unsets the value
					values[i].raw = ""
				}
				return nil
			}
			v := readResourceValue(name, raw)
			if seen {
				values[i] = v
				return nil
			}
			values = append(values, v)
			if index != nil {
				index[name] = len(values) - 1
			} else if len(values) > 8 {
				index = make(map[string]int, 2*len(values))
				for j := range values {
					index[values[j].name] = j
				}
			}
			return nil
		})
		values = slices.DeleteFunc(values, func(v resourceValue) bool { return v.raw == "" })
		// The last of repeated sections wins; one that is not an object sets nothing.
		*r.section(key) = values
		return err
	})
	return err
}

// image splits an image reference into name, tag and digest ("" when absent). The digest is
// what follows the first "@"; the tag what follows a colon in the last path segment of the
// rest, so the port of a registry ("registry:5000/app") is not taken for a tag.
func splitImage(image string) (name, tag, digest string) {
	name = image
	if at := strings.IndexByte(image, '@'); at >= 0 {
		name, digest = image[:at], image[at+1:]
	}
	last := name[strings.LastIndexByte(name, '/')+1:]
	if colon := strings.IndexByte(last, ':'); colon >= 0 && colon < len(last)-1 {
		// A trailing ":" with no tag after it stays part of the name.
		tag = last[colon+1:]
		name = name[:len(name)-len(last)+colon]
	}
	return name, tag, digest
}

// longRunning reports whether the kubelet keeps a container running, so that it can have
// probes: regular containers, and init containers that are native sidecars.
func (c *containerFacts) longRunning() bool {
	return c.typ == "containers" || (c.typ == "initContainers" && c.restartPolicy == "Always")
}
