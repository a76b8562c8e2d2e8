package offline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Manifest is one Kubernetes object read from an input, with where it came from.
type Manifest struct {
	File   string         `json:"file"`
	Line   int            `json:"line"`           // first line of its YAML document
	Item   int            `json:"item,omitempty"` // 1-based index inside a List, 0 otherwise
	Object map[string]any `json:"-"`
	// doc is the YAML document the object came from, so a field path can be mapped back
	// to the line it is on.
	doc []byte
}

// Position is how messages name the manifest: file:line, plus the List item.
func (m Manifest) Position() string {
	p := fmt.Sprintf("%s:%d", m.File, m.Line)
	if m.Item > 0 {
		p += fmt.Sprintf(" (item %d)", m.Item)
	}
	return p
}

// InputError is a document that cannot be read; it names the file and line.
type InputError struct {
	File string
	Line int
	Err  error
}

func (e *InputError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

var (
	separator = regexp.MustCompile(`^---(\s|$)`)
	yamlLine  = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): (.*)$`)
)

// ReadPaths reads every manifest under the given paths: files, directories (their .yaml,
// .yml and .json files, recursively) or "-" for stdin.
func ReadPaths(paths []string, stdin io.Reader) ([]Manifest, error) {
	var out []Manifest
	for _, p := range paths {
		if p == "-" {
			ms, err := Read("<stdin>", stdin)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
			continue
		}
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			ms, err := Read(f, fh)
			fh.Close()
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
	}
	return out, nil
}

func expand(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(f string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(f)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, f)
			}
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// Read splits a multi-document YAML (or JSON) stream into objects, expanding Lists.
func Read(name string, r io.Reader) ([]Manifest, error) {
	var out []Manifest
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	var doc bytes.Buffer
	line, start := 0, 1
	flush := func() error {
		// The buffer is reused for the next document; manifests keep their own copy.
		ms, err := parseDoc(name, start, bytes.Clone(doc.Bytes()))
		out = append(out, ms...)
		doc.Reset()
		return err
	}
	for sc.Scan() {
		line++
		if separator.Match(sc.Bytes()) {
			if err := flush(); err != nil {
				return nil, err
			}
			start = line + 1
			continue
		}
		// A document starts at its first line of content, not at its leading comments.
		if t := bytes.TrimSpace(sc.Bytes()); doc.Len() == 0 && (len(t) == 0 || t[0] == '#') {
			start = line + 1
			continue
		}
		doc.Write(sc.Bytes())
		doc.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, &InputError{File: name, Line: line, Err: err}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseDoc(name string, line int, doc []byte) ([]Manifest, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		// The YAML parser counts lines from the document's start; point at the file's line.
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			return nil, &InputError{File: name, Line: line + n - 1, Err: errors.New(m[2])}
		}
		return nil, &InputError{File: name, Line: line, Err: err}
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, nil // an empty document or comments only
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, &InputError{File: name, Line: line, Err: fmt.Errorf("not a Kubernetes object: %w", err)}
	}
	kind, _ := obj["kind"].(string)
	if kind == "" {
		return nil, &InputError{File: name, Line: line, Err: fmt.Errorf("document has no kind")}
	}
	if !strings.HasSuffix(kind, "List") {
		return []Manifest{{File: name, Line: line, Object: obj, doc: doc}}, nil
	}
	items, _ := obj["items"].([]any)
	var out []Manifest
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, &InputError{File: name, Line: line, Err: fmt.Errorf("items[%d] is not an object", i)}
		}
		if k, _ := m["kind"].(string); k == "" {
			return nil, &InputError{File: name, Line: line, Err: fmt.Errorf("items[%d] has no kind", i)}
		}
		out = append(out, Manifest{File: name, Line: line, Item: i + 1, Object: m, doc: doc})
	}
	return out, nil
}
