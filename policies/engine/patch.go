package engine

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultsAnnotation records on a mutated Pod what podguard added, so a reader of the
// stored object can tell a default from a value its author chose.
const DefaultsAnnotation = "podguard.io/defaults"

// patch writes the JSON Patch (RFC 6902) that sets the cluster's and podguard's additions
// in the object's Pod (a workload's pod template) and records podguard's in
// DefaultsAnnotation. The paths of the additions are
// known, so each operation is written from them: "add" where a member is missing,
// "replace" where it is null or "" (or, for an object on the way, not an object), with
// the whole object where a container lacks its resources or a section of them. A value
// that is set is never overwritten. nil when there is nothing to add.
func (o *Object) patch(cluster, podguard []Addition) ([]byte, error) {
	template, _ := o.templatePath()
	all := make([]addition, 0, len(cluster)+len(podguard))
	for _, a := range cluster {
		all = append(all, addition{a, false})
	}
	for _, a := range podguard {
		all = append(all, addition{a, true})
	}
	var w patchWriter
	var notes []string
	for len(all) > 0 {
		// The additions of one container, in the order they came.
		var mine, rest []addition
		for _, a := range all {
			if a.ContainerType == all[0].ContainerType && a.Index == all[0].Index {
				mine = append(mine, a)
			} else {
				rest = append(rest, a)
			}
		}
		all = rest
		added, err := w.container(template, o.specText, mine[0].ContainerType, mine[0].Index, mine)
		if err != nil {
			return nil, err
		}
		for i, a := range mine {
			if added[i] && a.podguard {
				notes = append(notes, fmt.Sprintf("%s:%s.%s=%s", a.Container, a.Section, a.Resource, a.Value))
			}
		}
	}
	if len(notes) > 0 {
		// The Pod's metadata: the object's, or its template's.
		metadata := o.text
		for _, key := range append(slices.Clip(template), "metadata") {
			var err error
			if metadata, err = member(metadata, key); err != nil {
				return nil, err
			}
		}
		if err := w.annotation(template, metadata, strings.Join(notes, ",")); err != nil {
			return nil, err
		}
	}
	if w.n == 0 {
		return nil, nil
	}
	return append(w.b, ']'), nil
}

// addition is one value to set, and whether it is podguard's (else the cluster's).
type addition struct {
	Addition
	podguard bool
}

// patchWriter writes the operations of a patch, as a JSON array.
type patchWriter struct {
	b []byte
	n int
}

// op writes one operation; value appends its JSON value.
func (w *patchWriter) op(op string, path []string, value func([]byte) []byte) {
	if w.n == 0 {
		w.b = append(w.b, '[')
	} else {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = append(w.b, `{"op":"`...)
	w.b = append(w.b, op...)
	w.b = append(w.b, `","path":"`...)
	for _, token := range path {
		w.b = append(w.b, '/')
		w.b = appendEscaped(w.b, pointerToken(token))
	}
	w.b = append(w.b, `","value":`...)
	w.b = value(w.b)
	w.b = append(w.b, '}')
}

// pointerToken is a member name as a JSON Pointer reference token (RFC 6901): ~ and /
// escaped.
func pointerToken(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// missing says how a member is set: "add" when it is absent, "replace" when it is
// present but must be replaced (null, "", or not an object where one is needed), "" when
// it holds what is needed (an object; for a value, anything else).
func missing(text string, value bool) string {
	switch {
	case text == "":
		return "add"
	case text == "null" || text == `""`:
		return "replace"
	case value || text[0] == '{':
		return ""
	}
	return "replace"
}

// container writes the operations that set adds in the container typ[index] of the spec;
// added says which of adds were set (a value already set is left alone).
func (w *patchWriter) container(template []string, spec, typ string, index int, adds []addition) ([]bool, error) {
	list, err := member(spec, typ)
	if err != nil {
		return nil, err
	}
	c, err := element(list, index)
	if err != nil {
		return nil, err
	}
	if c == "" || c[0] != '{' {
		return nil, fmt.Errorf("defaults: %s[%d] is not an object", typ, index)
	}
	base := append(slices.Clip(template), "spec", typ, strconv.Itoa(index), "resources")
	added := make([]bool, len(adds))
	resources, err := member(c, "resources")
	if err != nil {
		return nil, err
	}
	if op := missing(resources, false); op != "" {
		// Each section once, as its additions came (the first of a repeated one wins).
		w.op(op, base, func(b []byte) []byte {
			b = append(b, '{')
			first := true
			for _, section := range [...]string{"requests", "limits"} {
				if !has(adds, section) {
					continue
				}
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendString(b, section)
				b = append(b, ':')
				b = appendSection(b, adds, section, added)
			}
			return append(b, '}')
		})
		return added, nil
	}
	for _, section := range [...]string{"requests", "limits"} {
		if !has(adds, section) {
			continue
		}
		values, err := member(resources, section)
		if err != nil {
			return nil, err
		}
		if op := missing(values, false); op != "" {
			w.op(op, append(base, section), func(b []byte) []byte { return appendSection(b, adds, section, added) })
			continue
		}
		seen := map[string]bool{}
		for i, a := range adds {
			if a.Section != section || seen[a.Resource] {
				continue
			}
			seen[a.Resource] = true
			value, err := member(values, a.Resource)
			if err != nil {
				return nil, err
			}
			op := missing(value, true)
			if op == "" {
				continue // never overwrite what the author wrote
			}
			added[i] = true
			w.op(op, append(base, section, a.Resource), func(b []byte) []byte { return appendString(b, a.Value) })
		}
	}
	return added, nil
}

func has(adds []addition, section string) bool {
	for _, a := range adds {
		if a.Section == section {
			return true
		}
	}
	return false
}

// appendSection appends {"resource": "value", ...} of a section's additions, marking
// them added; the first of a repeated resource wins.
func appendSection(b []byte, adds []addition, section string, added []bool) []byte {
	b = append(b, '{')
	seen := map[string]bool{}
	for i, a := range adds {
		if a.Section != section || seen[a.Resource] {
			continue
		}
		if len(seen) > 0 {
			b = append(b, ',')
		}
		seen[a.Resource] = true
		added[i] = true
		b = appendString(b, a.Resource)
		b = append(b, ':')
		b = appendString(b, a.Value)
	}
	return append(b, '}')
}

// annotation writes the operation that records notes in DefaultsAnnotation of the
// metadata, after what an earlier call recorded there: called again after a later
// webhook added a container (reinvocationPolicy IfNeeded), podguard adds to it.
func (w *patchWriter) annotation(template []string, metadata, notes string) error {
	path := append(slices.Clip(template), "metadata")
	if op := missing(metadata, false); op != "" {
		w.op(op, path, func(b []byte) []byte {
			b = append(b, `{"annotations":{`...)
			b = appendString(b, DefaultsAnnotation)
			b = append(b, ':')
			return append(appendString(b, notes), "}}"...)
		})
		return nil
	}
	annotations, err := member(metadata, "annotations")
	if err != nil {
		return err
	}
	if op := missing(annotations, false); op != "" {
		w.op(op, append(path, "annotations"), func(b []byte) []byte {
			b = append(b, '{')
			b = appendString(b, DefaultsAnnotation)
			b = append(b, ':')
			return append(appendString(b, notes), '}')
		})
		return nil
	}
	before, err := member(annotations, DefaultsAnnotation)
	if err != nil {
		return err
	}
	op := "add"
	if before != "" {
		op = "replace"
		p := scanner{s: before}
		if s, ok, err := p.stringValue(); err != nil {
			return err
		} else if ok && s != "" {
			notes = s + "," + notes
		}
	}
	w.op(op, append(path, "annotations", DefaultsAnnotation), func(b []byte) []byte { return appendString(b, notes) })
	return nil
}

// element returns the text of an array's element i, "" when there is none.
func element(text string, i int) (string, error) {
	var out string
	p := scanner{s: text}
	_, err := p.elements(func(k int) error {
		if k != i {
			return p.skip()
		}
		var err error
		out, err = p.span()
		return err
	})
	if err == nil && out == "" {
		err = errors.New("no such element")
	}
	if err != nil {
		return "", fmt.Errorf("defaults: element %d: %w", i, err)
	}
	return out, nil
}

// appendString appends s as a JSON string, as encoding/json writes it (without its HTML
// escapes): invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	return append(appendEscaped(b, s), '"')
}

func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}
