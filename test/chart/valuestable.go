package chart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Markers around the values table in the chart's README.
const (
	tableBegin = "<!-- values table: generated from the \"# --\" comments of values.yaml by `cd test && go test ./chart -run ValuesTable -update` -->"
	tableEnd   = "<!-- end of values table -->"
)

// ValuesTable renders values.yaml as a Markdown table: one row for each value whose
// comment block ends with a paragraph starting "# --", with its type, its default and
// that paragraph. A mapping without such a comment is described by its own values; a
// value that has none and holds no documented values is an error, so nothing in
// values.yaml goes undocumented.
func ValuesTable(values []byte) (string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(values, &doc); err != nil {
		return "", err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("values.yaml is not a mapping")
	}
	var b strings.Builder
	b.WriteString("| value | type | default | description |\n|---|---|---|---|\n")
	if err := tableRows(&b, "", doc.Content[0]); err != nil {
		return "", err
	}
	return b.String(), nil
}

func tableRows(b *strings.Builder, prefix string, m *yaml.Node) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, value := m.Content[i], m.Content[i+1]
		path := prefix + key.Value
		desc := description(key.HeadComment)
		if desc == "" {
			if value.Kind == yaml.MappingNode && len(value.Content) > 0 {
				if err := tableRows(b, path+".", value); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("values.yaml: %s (line %d) has no \"# --\" description", path, key.Line)
		}
		def, err := defaultValue(value)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", path, typeName(value), def, cell(desc))
	}
	return nil
}

// description is the last paragraph of a comment block, if it starts with "# --".
func description(comment string) string {
	lines := strings.Split(comment, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "# --") {
			start = i
		}
		if strings.TrimSpace(l) == "" {
			start = -1 // a blank line ends a paragraph that is not the value's
		}
	}
	if start < 0 {
		return ""
	}
	var words []string
	for i, l := range lines[start:] {
		l = strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ")
		if i == 0 {
			l = strings.TrimSpace(strings.TrimPrefix(l, "--"))
		}
		words = append(words, strings.TrimSpace(l))
	}
	return strings.Join(words, " ")
}

func typeName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "object"
	case yaml.SequenceNode:
		return "list"
	}
	switch n.Tag {
	case "!!int":
		return "integer"
	case "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	}
	return "string"
}

// defaultValue is the value as compact JSON in a code span.
func defaultValue(n *yaml.Node) (string, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return "`" + cell(strings.TrimSpace(buf.String())) + "`", nil
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// ReplaceTable puts table between the markers of readme.
func ReplaceTable(readme, table string) (string, error) {
	begin, end := strings.Index(readme, tableBegin), strings.Index(readme, tableEnd)
	if begin < 0 || end < begin {
		return "", fmt.Errorf("the chart README lacks the markers %q ... %q", tableBegin, tableEnd)
	}
	return readme[:begin+len(tableBegin)] + "\n" + table + readme[end:], nil
}
