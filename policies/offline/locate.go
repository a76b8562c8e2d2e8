package offline

import (
	"regexp"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// pathStep matches one step of a field path: a key, a [index] or a ["quoted key"].
var pathStep = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]`)

// FieldLine returns the line in the file of the field a violation names, or of its
// nearest parent that exists (a missing probe points at its container). It falls back to
// the manifest's first line.
func (m Manifest) FieldLine(field string) int {
	var root yaml.Node
	if err := yaml.Unmarshal(m.doc, &root); err != nil || len(root.Content) == 0 {
		return m.Line
	}
	node := root.Content[0]
	if m.Item > 0 {
		node = child(child(node, "items", -1), "", m.Item-1)
		if node == nil {
			return m.Line
		}
	}
	best := node.Line
	for _, step := range pathStep.FindAllStringSubmatch(field, -1) {
		var next *yaml.Node
		switch {
		case step[1] != "":
			next = child(node, step[1], -1)
		case step[2] != "":
			i, _ := strconv.Atoi(step[2])
			next = child(node, "", i)
		default:
			key, err := strconv.Unquote(`"` + step[3] + `"`)
			if err != nil {
				key = step[3]
			}
			next = child(node, key, -1)
		}
		if next == nil {
			break
		}
		node, best = next, next.Line
	}
	return m.Line + best - 1
}

// child returns a mapping's value for key, or a sequence's element at index.
func child(n *yaml.Node, key string, index int) *yaml.Node {
	if n == nil {
		return nil
	}
	switch {
	case n.Kind == yaml.MappingNode && index < 0:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				// A key's own line is where a reader looks for the field.
				v := *n.Content[i+1]
				if v.Kind != yaml.ScalarNode {
					v.Line = n.Content[i].Line
				}
				return &v
			}
		}
	case n.Kind == yaml.SequenceNode && index >= 0 && index < len(n.Content):
		return n.Content[index]
	}
	return nil
}
