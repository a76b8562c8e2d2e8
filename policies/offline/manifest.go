package offline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// Manifest is one document read from an input, with where it came from. It is a
// Kubernetes object (Object), a document that is listed but not judged because it is
// no object (Skipped says what it is), or a document that could not be read (Err).
type Manifest struct {
	File   string         `json:"file"`
	Line   int            `json:"line"`           // first line of its YAML document; 0 when the file itself is unreadable
	Item   int            `json:"item,omitempty"` // 1-based index inside a List, 0 otherwise
	Object map[string]any `json:"-"`
	// Skipped says why a document that was read is no Kubernetes object: a kustomization,
	// a kustomize patch, Helm chart metadata, a file without kind.
	Skipped string `json:"-"`
	// Err says why a document could not be read.
	Err error `json:"-"`
	// Via is how the document was made when it is rendered output ("helm template DIR",
	// "kustomize build DIR"): File is then the template or kustomization it came from,
	// and Line is 0, since lines of the output are not lines of that file.
	Via string `json:"via,omitempty"`
	// Unrendered says why a chart or kustomization could not be rendered.
	Unrendered string `json:"-"`
	// Refused says why kubectl would refuse the document before sending it (a key twice,
	// no apiVersion): the gate refuses it too.
	Refused string `json:"-"`
	// doc is the YAML document the object came from, so a field path can be mapped back
	// to the line it is on.
	doc []byte
}

// Position is how messages name the manifest: file:line, plus the List item.
func (m Manifest) Position() string {
	p := m.File
	if m.Line > 0 {
		p += fmt.Sprintf(":%d", m.Line)
	}
	if m.Item > 0 {
		p += fmt.Sprintf(" (item %d)", m.Item)
	}
	if m.Via != "" {
		p += " (" + m.Via + ")"
	}
	return p
}

var (
	yamlLine = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): (.*)$`)
	yamlMsg  = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: (.*)$`)
)

// kustomizationNames are the file names kustomize reads as a kustomization.
var kustomizationNames = map[string]bool{"kustomization.yaml": true, "kustomization.yml": true, "Kustomization": true}

// Inputs is what eval reads.
type Inputs struct {
	// Paths are files, directories or "-" for stdin.
	Paths []string
	// Exclude are patterns matched as .gitignore lines, against paths relative to each
	// directory read.
	Exclude []string
	// Helm names charts to render with values, besides the charts found in directories.
	Helm Helm
}

// ReadInputs reads every document under the given paths: files, directories (their
// .yaml, .yml and .json files, recursively, leaving out hidden directories such as .git
// and what in.Exclude matches) or "-" for stdin. A directory holding a Chart.yaml is
// rendered as `helm template` renders it, and a kustomization that no other one names is
// built as `kubectl apply -k` builds it; their sources are never judged raw. It reads all
// it can: a path, file or document that cannot be read, or a chart that cannot be
// rendered, is returned as a Manifest with Err or Unrendered, in its place among the
// others. The error is for what was asked wrongly: a bad pattern, values that cannot be
// read, a --helm-chart that is no chart.
func ReadInputs(in Inputs, stdin io.Reader) ([]Manifest, error) {
	excl, err := ParseExcludes(in.Exclude)
	if err != nil {
		return nil, err
	}
	type input struct {
		file string
		err  error
	}
	var inputs []input
	var files []string
	found := walked{charts: map[string]bool{}, kustomizations: map[string]bool{}}
	chartValues := map[string]map[string]any{}
	if len(in.Helm.Charts) > 0 {
		vals, err := helmValues(in.Helm)
		if err != nil {
			return nil, err
		}
		for _, c := range in.Helm.Charts {
			if _, err := os.Stat(filepath.Join(c, "Chart.yaml")); err != nil {
				return nil, fmt.Errorf("--helm-chart %s: %w", c, errNoChart)
			}
			chartValues[filepath.Clean(c)] = vals
		}
	}
	for _, p := range append(append([]string(nil), in.Paths...), in.Helm.Charts...) {
		if p == "-" {
			inputs = append(inputs, input{file: p})
			continue
		}
		got, errs := expand(p, excl, &found)
		for _, e := range errs {
			inputs = append(inputs, input(e))
		}
		for _, f := range got {
			inputs = append(inputs, input{file: f})
			files = append(files, f)
		}
	}
	rd := newReader(files)
	roots, parts := kustomizationRoots(found.kustomizations)
	seen := map[string]bool{}
	var out []Manifest
	for _, in := range inputs {
		if in.err != nil {
			out = append(out, Manifest{File: in.file, Err: in.err})
			continue
		}
		name, dir := in.file, filepath.Dir(in.file)
		if seen[filepath.Clean(name)] {
			continue // a --helm-chart also under a path read
		}
		seen[filepath.Clean(name)] = true
		switch {
		case filepath.Base(name) == "Chart.yaml" && found.charts[dir]:
			ms, err := rd.renderChart(dir, chartValues[dir])
			if err != nil {
				ms = []Manifest{{File: name, Unrendered: "helm template " + dir + ": " + err.Error()}}
			}
			out = append(out, ms...)
			continue
		case kustomizationNames[filepath.Base(name)] && roots[dir]:
			ms, err := rd.buildKustomization(dir)
			if err != nil {
				ms = []Manifest{{File: name, Unrendered: "kustomize build " + dir + ": " + err.Error()}}
			}
			out = append(out, ms...)
			continue
		case parts[dir] != "" && !kustomizationNames[filepath.Base(name)]:
			out = append(out, Manifest{File: name, Skipped: "a file of the kustomization in " + dir + ", judged as built (" + parts[dir] + ")"})
			continue
		}
		data, err := []byte(nil), error(nil)
		if name == "-" {
			name = "<stdin>"
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			out = append(out, Manifest{File: name, Err: pathCause(err)})
			continue
		}
		out = append(out, rd.read(name, data)...)
	}
	return out, nil
}

// walked is what expand found besides files: chart directories and kustomization
// directories.
type walked struct {
	charts, kustomizations map[string]bool
}

// kustomizationRoots splits kustomization directories into the ones no other one names
// (built, as an overlay is applied) and, for every one, the root that builds it.
func kustomizationRoots(dirs map[string]bool) (roots map[string]bool, builtBy map[string]string) {
	named := map[string][]string{}
	referenced := map[string]bool{}
	component := map[string]bool{} // read once: the sort below asks n log n times
	for d := range dirs {
		component[d] = isComponent(d)
		refs, _ := kustomizationRefs(d) // a bad kustomization is named when it is built
		for _, r := range refs {
			p := filepath.Join(d, r)
			if dirs[p] {
				named[d] = append(named[d], p)
				referenced[p] = true
			}
		}
	}
	roots, builtBy = map[string]bool{}, map[string]string{}
	var mark func(root, d string)
	mark = func(root, d string) {
		if builtBy[d] != "" {
			return
		}
		builtBy[d] = "kustomize build " + root
		for _, n := range named[d] {
			mark(root, n)
		}
	}
	var sorted []string
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	// Roots first, so what they name is marked as theirs before a Component is looked at.
	sort.SliceStable(sorted, func(i, j int) bool { return !component[sorted[i]] && component[sorted[j]] })
	for _, d := range sorted {
		switch {
		case referenced[d]:
		case component[d]:
			// A Component is built only into a kustomization that names it.
			if builtBy[d] == "" {
				builtBy[d] = "a kustomization naming it in components"
			}
		default:
			roots[d] = true
			mark(d, d)
		}
	}
	return roots, builtBy
}

type pathError struct {
	file string
	err  error
}

// expand lists the manifest files under p, and the paths under it that cannot be read.
// It records the chart and kustomization directories it finds in found, and leaves out
// what excl matches and a chart's templates and vendored charts, which are read when the
// chart is rendered.
func expand(p string, excl excludes, found *walked) ([]string, []pathError) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, []pathError{{p, pathCause(err)}}
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	var errs []pathError
	err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, pathError{f, pathCause(err)})
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(p, f)
		if d.IsDir() {
			if f != p && (strings.HasPrefix(d.Name(), ".") || excl.excluded(rel, true)) {
				return filepath.SkipDir
			}
			if f != p && found.charts[filepath.Dir(f)] && (d.Name() == "templates" || d.Name() == "charts") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(f, "Chart.yaml")); err == nil {
				found.charts[f] = true
			}
			return nil
		}
		if excl.excluded(rel, false) {
			return nil
		}
		if kustomizationNames[d.Name()] {
			found.kustomizations[filepath.Dir(f)] = true
		}
		switch strings.ToLower(filepath.Ext(f)) {
		case ".yaml", ".yml", ".json":
			files = append(files, f)
		default:
			if kustomizationNames[d.Name()] {
				files = append(files, f)
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, pathError{p, pathCause(err)})
	}
	sort.Strings(files)
	return files, errs
}

// pathCause drops the operation and path that *fs.PathError repeats: the path is shown
// beside the cause anyway.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// reader knows, besides the file at hand, what the other files of the same run say about
// it: which files a kustomization names as patches, and which directories are Helm charts.
type reader struct {
	patches map[string]string // cleaned path of a patch file -> the kustomization naming it
	charts  map[string]bool   // directory -> holds a Chart.yaml
	// output is set when reading rendered output, which is what kubectl would be given:
	// where its documents are named from says nothing about what they are.
	output bool
}

func newReader(files []string) *reader {
	return &reader{patches: kustomizePatches(files), charts: map[string]bool{}}
}

func (rd *reader) read(name string, data []byte) []Manifest {
	if ms, ok := rd.readJSONStream(name, data); ok {
		return ms
	}
	lines := bytes.Split(data, []byte("\n"))
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	var out []Manifest
	var doc bytes.Buffer
	start := 1
	// A separator with content after it ("--- {kind: Pod}"): kubectl refuses the file
	// there ("invalid Yaml document separator"), so that document is reported, not read.
	badSeparator, badLine := "", 0
	flush := func() {
		switch {
		case badSeparator != "":
			out = append(out, Manifest{File: name, Line: badLine, Err: fmt.Errorf(
				"content after the document separator (%s): kubectl refuses it (invalid Yaml document separator); start the document on the line after ---",
				clip(badSeparator))})
		case doc.Len() > 0:
			// The buffer is reused for the next document; manifests keep their own copy.
			out = append(out, rd.parseDoc(name, start, bytes.Clone(doc.Bytes()))...)
		}
		doc.Reset()
		badSeparator = ""
	}
	for i, l := range lines {
		line := i + 1
		l = bytes.TrimSuffix(l, []byte("\r"))
		if bytes.HasPrefix(l, []byte("---")) {
			flush()
			start = line + 1
			if rest := bytes.TrimSpace(l[3:]); len(rest) > 0 && rest[0] != '#' {
				badSeparator, badLine = string(rest), line
			}
			continue
		}
		// A document starts at its first line of content, not at its leading comments.
		if t := bytes.TrimSpace(l); doc.Len() == 0 && (len(t) == 0 || t[0] == '#') {
			start = line + 1
			continue
		}
		doc.Write(l)
		doc.WriteByte('\n')
	}
	flush()
	return out
}

// readJSONStream reads a file that is one or more JSON objects one after the other, as
// kubectl does when a file starts with "{". It reports false when the data is not such a
// stream, which is then read as YAML (a single JSON document is YAML too).
func (rd *reader) readJSONStream(name string, data []byte) ([]Manifest, bool) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var docs [][2]int // start and end offsets
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return nil, false
		}
		end := int(dec.InputOffset())
		docs = append(docs, [2]int{end - len(raw), end})
	}
	if len(docs) < 2 {
		return nil, false
	}
	var out []Manifest
	for _, d := range docs {
		line := bytes.Count(data[:d[0]], []byte("\n")) + 1
		out = append(out, rd.parseDoc(name, line, data[d[0]:d[1]])...)
	}
	return out, true
}

func (rd *reader) parseDoc(name string, line int, doc []byte) []Manifest {
	one := func(m Manifest) []Manifest {
		m.File = name
		if m.Line == 0 {
			m.Line = line
		}
		return []Manifest{m}
	}
	tmpl := templateLine(doc)
	if rd.output {
		tmpl = 0
	}
	if chart := rd.chartOf(name); chart != "" && tmpl > 0 {
		return one(Manifest{Line: line + tmpl - 1, Err: fmt.Errorf("a Helm template: render it first with helm template %s", chart)})
	}
	// A file of a chart is read by Helm, never by kubectl: its values (kind: Deployment
	// is a fine value) and anything else in it are no objects.
	if chart := rd.chartRoot(name); chart != "" && !rd.output {
		if strings.HasPrefix(filepath.Base(name), "values") {
			return one(Manifest{Skipped: "Helm chart values (chart " + chart + "), not an object"})
		}
		if filepath.Base(name) != "Chart.yaml" {
			return one(Manifest{Skipped: "a file of Helm chart " + chart + ", which Helm reads, not kubectl"})
		}
	}
	// Strict, as kubectl reads a file: a key twice in one mapping refuses the file.
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil && strings.Contains(err.Error(), "already set in map") {
		if key, first, second := duplicateKey(doc); second > 0 {
			return one(Manifest{Line: line + second - 1, Refused: fmt.Sprintf(
				"key %q twice in one mapping (lines %d and %d): kubectl refuses the file (key %q already set in map)",
				key, line+first-1, line+second-1, key)})
		}
	}
	if err != nil {
		if tmpl > 0 {
			return one(Manifest{Line: line + tmpl - 1, Err: errors.New("looks like a template ({{ ... }}): render it first, e.g. with helm template")})
		}
		n, cause := yamlError(err, doc)
		return one(Manifest{Line: line + n - 1, Err: cause})
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return one(Manifest{Err: err}) // YAMLToJSON wrote it: not expected
	}
	switch x := v.(type) {
	case nil:
		return nil // an empty document or comments only
	case map[string]any:
		return rd.object(name, line, doc, x)
	case []any:
		if isJSONPatch(x) {
			return one(Manifest{Skipped: "a JSON 6902 patch (kustomize), not an object"})
		}
		return one(Manifest{Skipped: "a YAML list, not a Kubernetes object"})
	default:
		return one(Manifest{Skipped: "a single value, not a Kubernetes object"})
	}
}

func (rd *reader) object(name string, line int, doc []byte, obj map[string]any) []Manifest {
	one := func(m Manifest) []Manifest {
		m.File, m.Line, m.doc = name, line, doc
		return []Manifest{m}
	}
	if by := rd.patches[filepath.Clean(name)]; by != "" {
		return one(Manifest{Skipped: "a kustomize patch (named in " + by + "), not an object"})
	}
	apiVersion, _ := obj["apiVersion"].(string)
	if (kustomizationNames[filepath.Base(name)] && !rd.output) || strings.HasPrefix(apiVersion, "kustomize.config.k8s.io/") {
		return one(Manifest{Skipped: "a kustomization (kustomize's configuration), not an object"})
	}
	rawKind, hasKind := obj["kind"]
	if !hasKind || rawKind == nil {
		switch {
		case filepath.Base(name) == "Chart.yaml":
			return one(Manifest{Skipped: "Helm chart metadata, not an object"})
		case strings.HasPrefix(filepath.Base(name), "values") && rd.isChart(filepath.Dir(name)):
			return one(Manifest{Skipped: "Helm chart values, not an object"})
		case apiVersion != "" || obj["metadata"] != nil:
			return one(Manifest{Err: errors.New("no kind: an object without kind, which kubectl refuses (Object 'Kind' is missing)")})
		}
		return one(Manifest{Skipped: "no kind: not a Kubernetes object"})
	}
	kind, ok := rawKind.(string)
	if !ok || kind == "" {
		return one(Manifest{Err: fmt.Errorf("kind is %s, not a kind name", show(rawKind))})
	}
	if apiVersion == "" {
		return one(Manifest{Refused: kind + " without apiVersion, which kubectl refuses (Object 'apiVersion' is missing)"})
	}
	// Like kubectl, any object with items is a List (whatever its kind: a CRD named
	// IPAllowList without items is an object), and items: null is an empty one.
	rawItems, isList := obj["items"]
	if !isList {
		return one(Manifest{Object: obj})
	}
	if rawItems == nil {
		return one(Manifest{Skipped: "an empty " + kind})
	}
	items, ok := rawItems.([]any)
	if !ok {
		return one(Manifest{Err: fmt.Errorf("%s: items is %s, not a list", kind, show(rawItems))})
	}
	if len(items) == 0 {
		return one(Manifest{Skipped: "an empty " + kind})
	}
	out := make([]Manifest, 0, len(items))
	for i, it := range items {
		m := Manifest{File: name, Line: line, Item: i + 1, doc: doc}
		item, ok := it.(map[string]any)
		switch {
		case !ok:
			m.Err = fmt.Errorf("items[%d] is %s, not an object", i, show(it))
		case item["items"] != nil:
			m.Err = fmt.Errorf("items[%d] is a List inside a List, which kubectl does not read", i)
		default:
			// As kubectl: an item with neither kind nor apiVersion is of the List's item
			// kind (the items of a PodList are Pods).
			if item["kind"] == nil && item["apiVersion"] == nil && kind != "List" && strings.HasSuffix(kind, "List") {
				item["kind"] = strings.TrimSuffix(kind, "List")
				if apiVersion != "" {
					item["apiVersion"] = apiVersion
				}
			}
			if k, _ := item["kind"].(string); k == "" {
				m.Err = fmt.Errorf("items[%d] has no kind", i)
			} else {
				m.Object = item
			}
		}
		out = append(out, m)
	}
	return out
}

// duplicateKey finds the first key written twice in one mapping, and its two lines
// (1-based, in the document).
func duplicateKey(doc []byte) (key string, first, second int) {
	var root yamlv3.Node
	if yamlv3.Unmarshal(doc, &root) != nil {
		return "", 0, 0
	}
	var find func(n *yamlv3.Node) bool
	find = func(n *yamlv3.Node) bool {
		if n.Kind == yamlv3.MappingNode {
			seen := map[string]int{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind != yamlv3.ScalarNode || k.Tag == "!!merge" {
					continue
				}
				if l, ok := seen[k.Value]; ok {
					key, first, second = k.Value, l, k.Line
					return true
				}
				seen[k.Value] = k.Line
			}
		}
		for _, c := range n.Content {
			if find(c) {
				return true
			}
		}
		return false
	}
	find(&root)
	return key, first, second
}

// templateLine is the 1-based line of a document's first "{{", or 0.
func templateLine(doc []byte) int {
	i := bytes.Index(doc, []byte("{{"))
	if i < 0 {
		return 0
	}
	return bytes.Count(doc[:i], []byte("\n")) + 1
}

// chartOf returns the chart directory when name is a file under a Helm chart's templates
// directory (one whose parent holds a Chart.yaml), else "".
func (rd *reader) chartOf(name string) string {
	for dir := filepath.Dir(name); ; {
		parent := filepath.Dir(dir)
		if filepath.Base(dir) == "templates" && rd.isChart(parent) {
			return parent
		}
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// chartRoot returns the nearest directory above name (or name's own) that holds a
// Chart.yaml, or "".
func (rd *reader) chartRoot(name string) string {
	for dir := filepath.Dir(name); ; {
		if rd.isChart(dir) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir || dir == "." {
			return ""
		}
		dir = parent
	}
}

// isChart reports whether dir holds a Chart.yaml.
func (rd *reader) isChart(dir string) bool {
	has, seen := rd.charts[dir]
	if !seen {
		_, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
		has = err == nil
		rd.charts[dir] = has
	}
	return has
}

// yamlError turns a YAML parser error into the line it is on (1-based, in the document)
// and a cause in words, without the Go types the converter names.
func yamlError(err error, doc []byte) (int, error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, errors.New(m[2])
	}
	if strings.Contains(msg, "invalid map key") {
		return complexKeyLine(doc), errors.New("a mapping or list used as a key (an unquoted { or [ where a value was meant?)")
	}
	if m := yamlMsg.FindStringSubmatch(msg); m != nil {
		msg = m[1]
	}
	return 1, errors.New(msg)
}

// complexKeyLine finds the line of the first key that is not a plain value.
func complexKeyLine(doc []byte) int {
	var root yamlv3.Node
	if yamlv3.Unmarshal(doc, &root) != nil {
		return 1
	}
	var find func(n *yamlv3.Node) int
	find = func(n *yamlv3.Node) int {
		if n.Kind == yamlv3.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Kind != yamlv3.ScalarNode {
					return n.Content[i].Line
				}
			}
		}
		for _, c := range n.Content {
			if l := find(c); l > 0 {
				return l
			}
		}
		return 0
	}
	if l := find(&root); l > 0 {
		return l
	}
	return 1
}

// isJSONPatch reports whether a list is a JSON 6902 patch: operations with op and path.
func isJSONPatch(list []any) bool {
	for _, it := range list {
		op, _ := it.(map[string]any)
		if _, ok := op["op"].(string); !ok {
			return false
		}
		if _, ok := op["path"].(string); !ok {
			return false
		}
	}
	return len(list) > 0
}

// kustomizePatches reads the kustomizations among files and returns the files they name
// as patches, replacements or transformer configurations: those are fragments, not objects.
func kustomizePatches(files []string) map[string]string {
	out := map[string]string{}
	for _, f := range files {
		if !kustomizationNames[filepath.Base(f)] {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue // reported when the file itself is read
		}
		var k struct {
			Patches []struct {
				Path string `json:"path"`
			} `json:"patches"`
			PatchesStrategicMerge []string `json:"patchesStrategicMerge"`
			PatchesJSON6902       []struct {
				Path string `json:"path"`
			} `json:"patchesJson6902"`
			Replacements []struct {
				Path string `json:"path"`
			} `json:"replacements"`
			Configurations []string `json:"configurations"`
		}
		if yaml.Unmarshal(b, &k) != nil {
			continue
		}
		var paths []string
		for _, p := range k.Patches {
			paths = append(paths, p.Path)
		}
		for _, p := range k.PatchesJSON6902 {
			paths = append(paths, p.Path)
		}
		for _, p := range k.Replacements {
			paths = append(paths, p.Path)
		}
		paths = append(paths, k.Configurations...)
		for _, p := range k.PatchesStrategicMerge {
			if !strings.Contains(p, "\n") { // else an inline patch
				paths = append(paths, p)
			}
		}
		for _, p := range paths {
			if p == "" || filepath.IsAbs(p) {
				continue
			}
			patch := filepath.Join(filepath.Dir(f), p)
			// Named from where the patch is: usually "kustomization.yaml" beside it.
			by, err := filepath.Rel(filepath.Dir(patch), f)
			if err != nil {
				by = f
			}
			out[patch] = by
		}
	}
	return out
}

// clip shortens what a message quotes from the input.
func clip(s string) string {
	if len(s) > 60 {
		return strconv.Quote(s[:57] + "...")
	}
	return strconv.Quote(s)
}

// show renders a value from a document the way it was written.
func show(v any) string {
	switch t := v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case nil:
		return "null"
	case string:
		return strconv.Quote(t)
	}
	return fmt.Sprint(v)
}
