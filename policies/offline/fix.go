package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	"github.com/podguard/podguard/policies/engine"
)

// FileFix is what --fix does to one file: its text before and after, and the documents
// it left alone, with why.
type FileFix struct {
	File     string
	Old, New []byte
	// Added names each default written, as file:line field=value.
	Added []string
	// NotFixed names the judged documents whose defaults could not be written, with why.
	NotFixed []string
}

// Changed reports whether the fix changes the file.
func (f FileFix) Changed() bool { return !bytes.Equal(f.Old, f.New) }

// Fix computes, for each file holding a judged manifest, the file with podguard's
// defaults written into it: the values the mutating webhook would add to the Pod, or to
// each Pod of a workload's template. Only what is missing is added, as new lines (or
// entries of a flow mapping) next to the file's own: every byte already there stays, so
// comments, key order, quoting, anchors and indentation are kept, and a second run adds
// nothing. Documents that were not judged (unreadable ones, Helm templates, kinds
// podguard does not check) are never touched, nor are List items, JSON files, stdin, and
// values reached through an alias or a merge key (named in NotFixed).
func Fix(ctx context.Context, e *engine.Engine, manifests []Manifest, results []Result) ([]FileFix, error) {
	byFile := map[string][]Result{}
	var files []string
	var out []FileFix
	for _, r := range results {
		if r.Verdict != VerdictAdmit && r.Verdict != VerdictRefuse {
			continue
		}
		if r.Via != "" {
			// Rendered output: the file is a template or a kustomization, whose text is
			// not the object's. It is fixed in the chart's values or the overlay.
			out = append(out, FileFix{File: r.File, NotFixed: []string{fmt.Sprintf("%s %s: not fixed: made by %s; --fix never edits templates or kustomizations", r.Position(), r.id(), r.Via)}})
			continue
		}
		if _, seen := byFile[r.File]; !seen {
			files = append(files, r.File)
		}
		byFile[r.File] = append(byFile[r.File], r)
	}
	namespaces, _ := clusterOf(manifests)
	for _, file := range files {
		f := FileFix{File: file}
		judged := byFile[file]
		if file == "-" || strings.EqualFold(filepath.Ext(file), ".json") {
			for _, r := range judged {
				f.NotFixed = append(f.NotFixed, fmt.Sprintf("%s %s: not fixed: --fix writes YAML files only", r.Position(), r.id()))
			}
			out = append(out, f)
			continue
		}
		text, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		f.Old = text
		docs := splitDocuments(text)
		var edits []edit
		for _, r := range judged {
			es, added, why, err := fixOne(ctx, e, namespaces, text, docs, r)
			if err != nil {
				return nil, err
			}
			if why != "" {
				f.NotFixed = append(f.NotFixed, fmt.Sprintf("%s %s: not fixed: %s", r.Position(), r.id(), why))
			}
			edits = append(edits, es...)
			f.Added = append(f.Added, added...)
		}
		f.New = apply(text, edits)
		out = append(out, f)
	}
	return out, nil
}

// document is one YAML document of a file: where it starts, and its parsed nodes.
type document struct {
	offset, line int // byte offset and 1-based line of its first line
	root         *yaml.Node
}

var separator = regexp.MustCompile(`^---(\s|$)`)

// splitDocuments splits a file at its --- lines and parses each document; one that
// does not parse has no root (it was not judged either).
func splitDocuments(text []byte) []document {
	var docs []document
	start, startLine, line := 0, 1, 1
	flush := func(end int) {
		var n yaml.Node
		d := document{offset: start, line: startLine}
		if yaml.Unmarshal(text[start:end], &n) == nil && len(n.Content) == 1 {
			d.root = n.Content[0]
		}
		docs = append(docs, d)
	}
	for i := 0; i < len(text); {
		end := bytes.IndexByte(text[i:], '\n')
		next := len(text)
		if end >= 0 {
			next = i + end + 1
		}
		if separator.Match(text[i:next]) {
			flush(i)
			start, startLine = next, line+1
		}
		i, line = next, line+1
	}
	flush(len(text))
	return docs
}

// edit inserts text at a byte offset of the file; of two at the same offset, the one
// into the deeper mapping (its keys' column) goes first, as it ends there too.
type edit struct {
	at, column int
	text       string
}

func apply(text []byte, edits []edit) []byte {
	slices.SortStableFunc(edits, func(a, b edit) int {
		if a.at != b.at {
			return a.at - b.at
		}
		return b.column - a.column
	})
	var b bytes.Buffer
	last := 0
	for _, e := range edits {
		b.Write(text[last:e.at])
		b.WriteString(e.text)
		last = e.at
	}
	b.Write(text[last:])
	return b.Bytes()
}

// fixOne computes the insertions that write the defaults of one judged manifest, or why
// none can be written.
func fixOne(ctx context.Context, e *engine.Engine, namespaces engine.Namespaces, text []byte, docs []document, r Result) ([]edit, []string, string, error) {
	if r.Item > 0 {
		return nil, nil, "an item of a List", nil
	}
	var doc *document
	for i := range docs {
		if docs[i].root != nil && docs[i].line+docs[i].root.Line-1 == r.Line {
			doc = &docs[i]
		}
	}
	if doc == nil {
		return nil, nil, "its YAML document could not be located", nil
	}
	raw, err := json.Marshal(r.Object)
	if err != nil {
		return nil, nil, "", err
	}
	adds, o, err := e.ManifestDefaults(ctx, engine.Request{Source: engine.Manifest, Operation: engine.Create, Namespace: r.Namespace, Object: engine.BodyOf(raw), Cluster: namespaces})
	if err != nil {
		return nil, nil, "", err
	}
	type write struct{ field, value string }
	var writes []write
	for _, a := range adds {
		writes = append(writes, write{a.Field(o), a.Value})
	}
	values := labelValues(e)
	for _, f := range r.Findings {
		// A missing label the configuration gives a value for; one with a value that
		// does not match is the team's to change.
		key, ok := missingLabel(f)
		if value, set := values[key]; ok && set && !f.Defaulted {
			writes = append(writes, write{f.Field, value})
		}
	}
	if len(writes) == 0 {
		return nil, nil, "", nil
	}
	loc := locator{text: text, doc: doc}
	// Additions to one mapping that does not exist yet go in together, as one entry.
	pending := map[*yaml.Node]*insertion{}
	var order []*insertion
	var added, skipped []string
	for _, w := range writes {
		path := splitField(w.field)
		at, rest, why := loc.find(doc.root, path)
		if why != "" {
			// The other defaults of the document are still written.
			skipped = append(skipped, why+" ("+w.field+")")
			continue
		}
		ins := pending[at]
		if ins == nil {
			ins = &insertion{node: at}
			pending[at] = ins
			order = append(order, ins)
		}
		ins.add(rest, w.value)
		added = append(added, fmt.Sprintf("%s:%d %s=%s", r.File, doc.line+at.Line-1, w.field, w.value))
	}
	var edits []edit
	for _, ins := range order {
		ed, why := loc.insert(ins)
		if why != "" {
			return nil, nil, why, nil
		}
		edits = append(edits, ed)
	}
	return edits, added, strings.Join(skipped, "; "), nil
}

// labelValues are the values the required-labels rule's configuration gives its labels.
func labelValues(e *engine.Engine) map[string]string {
	out := map[string]string{}
	rules, _ := e.Config().Data["rules"].(map[string]any)
	rule, _ := rules["required-labels"].(map[string]any)
	labels, _ := rule["labels"].([]any)
	for _, l := range labels {
		m, _ := l.(map[string]any)
		key, _ := m["key"].(string)
		if value, ok := m["value"].(string); ok {
			out[key] = value
		}
	}
	return out
}

// missingLabel is the key of a required-labels finding that the label is not set, whose
// field is the labels' path with the key as a quoted index.
func missingLabel(f Finding) (string, bool) {
	if f.Rule != "required-labels" || !strings.HasPrefix(f.Message, "required label ") {
		return "", false
	}
	i := strings.Index(f.Field, `["`)
	if i < 0 {
		return "", false
	}
	key, err := strconv.Unquote(strings.TrimSuffix(f.Field[i+1:], "]"))
	return key, err == nil
}

// splitField splits spec.containers[0].resources.limits.cpu into its keys and indexes
// (an index as "[0]"); a quoted index (labels["app.kubernetes.io/name"]) is a key.
func splitField(field string) []string {
	var out []string
	if i := strings.Index(field, `["`); i >= 0 {
		key, err := strconv.Unquote(strings.TrimSuffix(field[i+1:], "]"))
		if err == nil {
			return append(splitField(field[:i]), key)
		}
	}
	for _, part := range strings.Split(field, ".") {
		if i := strings.IndexByte(part, '['); i >= 0 {
			out = append(out, part[:i], part[i:])
			continue
		}
		out = append(out, part)
	}
	return out
}

// tree is a mapping to write: keys in the order added, a value or a tree under each.
type tree struct {
	keys   []string
	values map[string]string
	trees  map[string]*tree
}

func (t *tree) add(path []string, value string) {
	if t.values == nil {
		t.values, t.trees = map[string]string{}, map[string]*tree{}
	}
	k := path[0]
	if _, ok := t.values[k]; !ok && t.trees[k] == nil {
		t.keys = append(t.keys, k)
	}
	if len(path) == 1 {
		t.values[k] = value
		return
	}
	if t.trees[k] == nil {
		t.trees[k] = &tree{}
	}
	t.trees[k].add(path[1:], value)
}

// insertion is what goes into one existing mapping of the file.
type insertion struct {
	node *yaml.Node
	tree
}

// locator finds nodes of one document in the file's text.
type locator struct {
	text []byte
	doc  *document
}

// find walks path from the root; it returns the deepest existing mapping on the path
// and the keys still missing under it, or why the path cannot be written.
func (l locator) find(n *yaml.Node, path []string) (*yaml.Node, []string, string) {
	for i, step := range path {
		if n.Kind == yaml.AliasNode {
			return nil, nil, "the value is reached through an alias (*" + n.Value + "); change the anchor by hand"
		}
		if n.Anchor != "" {
			return nil, nil, "the value is inside an anchored node (&" + n.Anchor + "), which its aliases share; change it by hand"
		}
		if strings.HasPrefix(step, "[") {
			idx, _ := strconv.Atoi(strings.Trim(step, "[]"))
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return nil, nil, "the file does not hold the list the object has"
			}
			n = n.Content[idx]
			continue
		}
		if n.Kind != yaml.MappingNode {
			return nil, nil, "a value on the path is not a mapping"
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == "<<" {
				return nil, nil, "the mapping has a merge key (<<); change the anchor by hand"
			}
			if n.Content[j].Value == step {
				next = n.Content[j+1]
			}
		}
		if next == nil {
			return n, path[i:], ""
		}
		if next.Anchor != "" && i+1 < len(path) {
			return nil, nil, "the value is inside an anchored node (&" + next.Anchor + "), which its aliases share; change it by hand"
		}
		if next.Kind == yaml.ScalarNode && next.Tag == "!!null" && i+1 < len(path) {
			return nil, nil, step + " is null; set it by hand"
		}
		n = next
	}
	return nil, nil, "the value is already set"
}

// offset is the byte offset in the file of a node's line and column (columns count
// characters).
func (l locator) offset(line, column int) int {
	off := l.doc.offset
	for range line - 1 {
		i := bytes.IndexByte(l.text[off:], '\n')
		if i < 0 {
			return len(l.text)
		}
		off += i + 1
	}
	for range column - 1 {
		if off >= len(l.text) {
			break
		}
		_, size := utf8.DecodeRune(l.text[off:])
		off += size
	}
	return off
}

// insert writes an insertion: as entries of a flow mapping before its closing brace, or
// as lines after the last line of a block mapping, indented as its keys are.
func (l locator) insert(ins *insertion) (edit, string) {
	n := ins.node
	if n.Style&yaml.FlowStyle != 0 {
		open := l.offset(n.Line, n.Column)
		end := closingBrace(l.text, open)
		if end < 0 {
			return edit{}, "a flow mapping without its closing brace"
		}
		at := end
		for at > open+1 && (l.text[at-1] == ' ' || l.text[at-1] == '\t') {
			at--
		}
		sep := ", "
		if len(n.Content) == 0 {
			sep = ""
		}
		return edit{at, n.Column, sep + ins.flow()}, ""
	}
	if len(n.Content) == 0 {
		return edit{}, "an empty block mapping"
	}
	keyColumn := n.Content[0].Column
	step := 2
	if first := n.Content[1]; first.Kind == yaml.MappingNode && first.Style&yaml.FlowStyle == 0 && len(first.Content) > 0 && first.Content[0].Column > keyColumn {
		step = first.Content[0].Column - keyColumn
	}
	// The mapping ends at the last line of content whose indentation is deeper than its
	// keys', or a "- " item at their depth (a list value written without indentation).
	start := l.offset(n.Content[len(n.Content)-2].Line, 1)
	end := lineEnd(l.text, start)
	for next := end; next < len(l.text); {
		lend := lineEnd(l.text, next)
		line := l.text[next:lend]
		trimmed := bytes.TrimLeft(line, " ")
		indent := len(line) - len(trimmed)
		body := bytes.TrimSpace(trimmed)
		switch {
		case len(body) == 0 || body[0] == '#':
		case separator.Match(line) || bytes.Equal(body, []byte("...")) && indent == 0:
			next = len(l.text)
			continue
		case indent > keyColumn-1 || indent == keyColumn-1 && (bytes.HasPrefix(body, []byte("- ")) || bytes.Equal(body, []byte("-"))):
			end = lend
		default:
			next = len(l.text)
			continue
		}
		next = lend
	}
	var b strings.Builder
	if end > 0 && l.text[end-1] != '\n' {
		b.WriteByte('\n')
	}
	ins.block(&b, keyColumn-1, step)
	return edit{end, keyColumn, b.String()}, ""
}

// lineEnd is the offset just past the newline of the line at off.
func lineEnd(text []byte, off int) int {
	if i := bytes.IndexByte(text[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(text)
}

// closingBrace finds the } that closes the { at open, skipping quoted strings.
func closingBrace(text []byte, open int) int {
	depth := 0
	for i := open; i < len(text); i++ {
		switch text[i] {
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i
			}
		case '"':
			for i++; i < len(text) && text[i] != '"'; i++ {
				if text[i] == '\\' {
					i++
				}
			}
		case '\'':
			for i++; i < len(text) && (text[i] != '\'' || i+1 < len(text) && text[i+1] == '\''); i++ {
				if text[i] == '\'' { // '' is a quote inside the string
					i++
				}
			}
		}
	}
	return -1
}

// flow writes the tree as flow entries: a: {b: v}, c: w.
func (t *tree) flow() string {
	parts := make([]string, 0, len(t.keys))
	for _, k := range t.keys {
		if sub := t.trees[k]; sub != nil {
			parts = append(parts, k+": {"+sub.flow()+"}")
			continue
		}
		parts = append(parts, k+": "+scalar(t.values[k]))
	}
	return strings.Join(parts, ", ")
}

// block writes the tree as block lines, its keys indented by indent spaces.
func (t *tree) block(b *strings.Builder, indent, step int) {
	for _, k := range t.keys {
		b.WriteString(strings.Repeat(" ", indent))
		b.WriteString(k)
		b.WriteByte(':')
		if sub := t.trees[k]; sub != nil {
			b.WriteByte('\n')
			sub.block(b, indent+step, step)
			continue
		}
		b.WriteByte(' ')
		b.WriteString(scalar(t.values[k]))
		b.WriteByte('\n')
	}
}

// scalar writes a default's value plain when YAML reads it back as that string, and
// quoted otherwise (a quantity such as 1 or 1e3 would be read as a number).
func scalar(v string) string {
	var back any
	if yaml.Unmarshal([]byte(v), &back) == nil && back == v {
		return v
	}
	return strconv.Quote(v)
}
