package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// groupKind is a kind with its API group ("" for the core group).
type groupKind struct{ group, kind string }

// templatePaths says where each supported kind keeps the Pod it stands for. A workload is
// judged by its pod template: the Pod it will create. Kinds are told apart by their group
// as well (a batch.volcano.sh Job is no batch Job); every version of a group keeps the
// template in the same place.
var templatePaths = map[groupKind][]string{
	{"", "Pod"}:                   nil,
	{"apps", "Deployment"}:        {"spec", "template"},
	{"apps", "StatefulSet"}:       {"spec", "template"},
	{"apps", "DaemonSet"}:         {"spec", "template"},
	{"apps", "ReplicaSet"}:        {"spec", "template"},
	{"", "ReplicationController"}: {"spec", "template"},
	{"batch", "Job"}:              {"spec", "template"},
	{"batch", "CronJob"}:          {"spec", "jobTemplate", "spec", "template"},
}

// Supported reports whether podguard judges objects of this group and kind ("" is the core
// group).
func Supported(group, kind string) bool {
	_, ok := templatePaths[groupKind{group, kind}]
	return ok
}

// templatePath is where the object keeps its Pod, and whether podguard judges its kind.
// An object without an apiVersion (which the API server refuses, but a test or a
// hand-written manifest may have) is taken for the built-in kind of its name.
func (o *Object) templatePath() ([]string, bool) {
	if o.APIVersion == "" {
		for gk, path := range templatePaths {
			if gk.kind == o.Kind {
				return path, true
			}
		}
		return nil, false
	}
	path, ok := templatePaths[groupKind{Group(o.APIVersion), o.Kind}]
	return path, ok
}

// unsupportedError is an object of a kind podguard does not judge.
type unsupportedError struct{ apiVersion, kind string }

func (e *unsupportedError) Error() string {
	return fmt.Sprintf("%s %s is not checked by podguard", e.apiVersion, e.kind)
}

// Group is the API group of an apiVersion: "apps" of "apps/v1", "" of "v1".
func Group(apiVersion string) string {
	group, _, found := strings.Cut(apiVersion, "/")
	if !found {
		return ""
	}
	return group
}

// Object is a Pod or a workload with a pod template, read once from its JSON: its identity,
// and the facts of the Pod it stands for, which are what the rules read.
type Object struct {
	Kind       string
	APIVersion string
	Namespace  string
	Name       string

	text       string    // the object's JSON
	owner      [3]string // apiVersion, kind and name of the controller
	pod        podFacts
	prefixPath string // "" for a Pod, "spec.template." for a Deployment, ...
	specText   string // the JSON of the Pod's spec, "" when absent
}

func decodeText(text string) (*Object, error) {
	o, err := decode(text)
	if err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	return o, nil
}

func decode(text string) (*Object, error) {
	o := &Object{text: text}
	p := scanner{s: text}
	var metadata, spec string
	var hasKind, specRead bool
	isObject, err := p.members(func(key string) error {
		var err error
		switch key {
		case "kind":
			o.Kind, _, err = p.stringValue()
			hasKind = true
		case "apiVersion":
			o.APIVersion, _, err = p.stringValue()
		case "metadata":
			metadata, err = p.span()
		case "spec":
			// The API server writes kind first; then a Pod's spec is read as it comes.
			// Otherwise, and for workloads, it is read once the kind is known.
			if o.Kind == "Pod" {
				o.pod = podFacts{}
				start := p.pos
				err = p.readPodSpec(&o.pod)
				spec, specRead = p.s[start:p.pos], true
			} else {
				spec, specRead = "", false
				spec, err = p.span()
			}
		default:
			err = p.skip()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !isObject {
		return nil, errors.New("the object is not a JSON object")
	}
	if specRead && o.Kind != "Pod" { // the kind changed after the spec was read as a Pod's
		o.pod, specRead = podFacts{}, false
	}
	if p.peek() != 0 {
		return nil, p.errorf("data after the object")
	}
	path, ok := o.templatePath()
	if !ok {
		if o.Kind == "" {
			if hasKind {
				return nil, errors.New("kind is not a string")
			}
			return nil, errors.New("object has no kind")
		}
		return nil, &unsupportedError{o.APIVersion, o.Kind}
	}
	if err := o.readMetadata(metadata); err != nil {
		return nil, err
	}
	if len(path) > 0 {
		o.prefixPath = strings.Join(path, ".") + "."
		// Walk down to the template; a workload without one has nothing to judge yet, but
		// must not pass for compliant: it is judged as an empty Pod (it lacks the
		// required labels).
		template := spec
		for _, key := range path[1:] {
			if template, err = member(template, key); err != nil {
				return nil, err
			}
		}
		if metadata, err = member(template, "metadata"); err != nil {
			return nil, err
		}
		if spec, err = member(template, "spec"); err != nil {
			return nil, err
		}
	}
	if o.pod.labels, err = member(metadata, "labels"); err != nil {
		return nil, err
	}
	o.specText = spec
	if spec != "" && !specRead {
		p := scanner{s: spec}
		if err := p.readPodSpec(&o.pod); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// readMetadata reads the object's own name, namespace and controller.
func (o *Object) readMetadata(text string) error {
	if text == "" {
		return nil
	}
	var generateName, owners string
	p := scanner{s: text}
	_, err := p.members(func(key string) error {
		var err error
		switch key {
		case "name":
			o.Name, _, err = p.stringValue()
		case "generateName":
			generateName, _, err = p.stringValue()
		case "namespace":
			o.Namespace, _, err = p.stringValue()
		case "ownerReferences":
			owners, err = p.span()
		default:
			err = p.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if o.Name == "" {
		o.Name = generateName
	}
	if owners == "" {
		return nil
	}
	p = scanner{s: owners}
	_, err = p.elements(func(int) error {
		var apiVersion, kind, name string
		var controller bool
		_, err := p.members(func(key string) error {
			var err error
			switch key {
			case "apiVersion":
				apiVersion, _, err = p.stringValue()
			case "kind":
				kind, _, err = p.stringValue()
			case "name":
				name, _, err = p.stringValue()
			case "controller":
				controller = p.peek() == 't'
				err = p.skip()
			default:
				err = p.skip()
			}
			return err
		})
		if controller && o.owner[1] == "" {
			o.owner = [3]string{apiVersion, kind, name}
		}
		return err
	})
	return err
}

// member returns the text of an object's member (the last one, if repeated), "" when the
// text is not an object or has no such member.
func member(text, key string) (string, error) {
	if text == "" {
		return "", nil
	}
	var out string
	p := scanner{s: text}
	_, err := p.members(func(k string) error {
		if k != key {
			return p.skip()
		}
		var err error
		out, err = p.span()
		return err
	})
	return out, err
}

// Unreadable describes the resource values of the object that podguard cannot read as
// quantities, one line each, e.g.
// container "app": resources.requests.memory "1e999999" is larger than any quantity
// Kubernetes can use (9223372036854775807).
func (o *Object) Unreadable() []string {
	var out []string
	for _, c := range o.pod.containers {
		for _, s := range [...]struct {
			name   string
			values []resourceValue
		}{{"requests", c.resources.requests}, {"limits", c.resources.limits}} {
			for _, v := range s.values {
				if v.err != nil {
					shown := v.raw
					if len(shown) > maxShownValue {
						shown = strconv.Quote(shortened(strings.Trim(shown, `"`)))
					}
					out = append(out, fmt.Sprintf("container %q: resources.%s.%s %s %v", c.name, s.name, v.name, shown, v.err))
				}
			}
		}
	}
	return out
}

// JSON is the object as it was read.
func (o *Object) JSON() []byte { return []byte(o.text) }

// Owner returns the apiVersion, kind and name of the controller that created the object,
// if any.
func (o *Object) Owner() (apiVersion, kind, name string) { return o.owner[0], o.owner[1], o.owner[2] }
