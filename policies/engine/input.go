package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The input document of an evaluation: the object's identity and the facts of its Pod, as
// ast values built directly (no Go maps in between), with the members schema.go declares.

// inputPlan is what the input documents of a policy set hold besides the facts every rule
// may read, decided once when the set is compiled.
type inputPlan struct {
	// spec and object say whether some rule reads input.spec or input.object, the
	// object itself: they are converted only then.
	spec, object bool
	// resources are the resource names the configuration names: each container lists
	// those it does not set, so that a rule finds what is missing without a negation
	// per container and resource.
	resources []string
	// podLevel says, for requests and limits, whether a pod-level value stands for the
	// containers' own (the resource rules' podLevel setting): then a resource the Pod
	// sets at pod level is not unset in any container. A pod-level limit stands for the
	// requests too, since the API server takes the pod-level request from it.
	podLevel [2]bool
	// unset keeps the unset lists of the set, which depend on resources.
	unset *termCache[unsetKey]
}

// input builds the input document. facts are the Pod's facts at the stage judged.
func (o *Object) input(facts *podFacts, nsLabels map[string]string, applyDefaults bool, plan *inputPlan) (ast.Value, error) {
	specPath := o.prefixPath + "spec"
	labels, err := labelsTerm(facts.labels)
	if err != nil {
		return nil, err
	}
	namespaceLabels := emptyObject
	if len(nsLabels) > 0 {
		pairs := make([][2]*ast.Term, 0, len(nsLabels))
		for k, v := range nsLabels {
			pairs = append(pairs, [2]*ast.Term{stringTerm(k), stringTerm(v)})
		}
		namespaceLabels = ast.ObjectTerm(pairs...)
	}
	containers := make([]*ast.Term, len(facts.containers))
	for i := range facts.containers {
		containers[i] = ast.NewTerm(plan.container(&facts.containers[i], &facts.resources, specPath))
	}
	pairs := make([][2]*ast.Term, 0, 12)
	pairs = append(pairs,
		item("kind", ast.InternedTerm(o.Kind)),
		item("namespace", stringTerm(o.Namespace)),
		item("name", stringTerm(o.Name)),
		item("labels", labels),
		item("labels_path", ast.InternedTerm(o.prefixPath+"metadata.labels")),
		item("spec_path", ast.InternedTerm(specPath)),
		item("namespace_labels", namespaceLabels),
		item("apply_defaults", ast.InternedTerm(applyDefaults)),
		item("containers", ast.ArrayTerm(containers...)),
		item("pod_resources", resourcesTerm(&facts.resources)),
	)
	if plan.spec {
		spec, err := jsonValue(o.specText, ast.NewObject())
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, item("spec", ast.NewTerm(spec)))
	}
	if plan.object {
		obj, err := jsonValue(o.text, ast.NewObject())
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, item("object", ast.NewTerm(obj)))
	}
	return ast.NewObject(pairs...), nil
}

// item is a member of an object with an interned key.
func item(key string, value *ast.Term) [2]*ast.Term {
	return [2]*ast.Term{ast.InternedTerm(key), value}
}

// emptyObject is {}, shared: input terms are never changed.
var emptyObject = ast.ObjectTerm()

func (plan *inputPlan) container(c *containerFacts, pod *resourceFacts, specPath string) ast.Value {
	pairs := make([][2]*ast.Term, 0, 10)
	pairs = append(pairs,
		item("type", ast.InternedTerm(c.typ)),
		item("index", ast.InternedTerm(c.index)),
		item("name", stringTerm(c.name)),
		item("path", pathTerms.get(containerPath{specPath, c.typ, c.index}, func(p containerPath) *ast.Term {
			return ast.StringTerm(p.specPath + "." + p.typ + "[" + strconv.Itoa(p.index) + "]")
		})),
		item("long_running", ast.InternedTerm(c.longRunning())),
		item("resources", resourcesTerm(&c.resources)),
		item("probes", probesTerm(&c.probes)),
		item("unset", plan.unsetTerm(c, pod, specPath)),
	)
	if c.image != "" {
		pairs = append(pairs, item("image", imageTerm(c.image)))
	}
	if u := unreadableTerm(&c.resources); u != nil {
		pairs = append(pairs, item("unreadable", u))
	}
	return ast.NewObject(pairs...)
}

type containerPath struct {
	specPath, typ string
	index         int
}

var (
	pathTerms     = newTermCache[containerPath]()
	imageTerms    = newTermCache[string]()
	quantityTerms = newTermCache[string]()
	probeTerms    = newTermCache[[len(probeKeys)]probeFacts]()
	labelTerms    = newTermCache[string]()
)

// imageTerm is {"reference", "name", "tag", "digest"} of an image reference.
func imageTerm(image string) *ast.Term {
	build := func(image string) *ast.Term {
		name, tag, digest := splitImage(image)
		return ast.ObjectTerm(
			[2]*ast.Term{ast.InternedTerm("reference"), ast.StringTerm(image)},
			[2]*ast.Term{ast.InternedTerm("name"), ast.StringTerm(name)},
			[2]*ast.Term{ast.InternedTerm("tag"), ast.StringTerm(tag)},
			[2]*ast.Term{ast.InternedTerm("digest"), ast.StringTerm(digest)},
		)
	}
	if len(image) > maxCachedKey {
		return build(image)
	}
	return imageTerms.get(image, build)
}

// probesTerm is {"livenessProbe": [handlers], ...}: every probe that is set, with the
// handlers it uses.
func probesTerm(probes *[len(probeKeys)]probeFacts) *ast.Term {
	return probeTerms.get(*probes, func(probes [len(probeKeys)]probeFacts) *ast.Term {
		pairs := make([][2]*ast.Term, 0, len(probeKeys))
		for i, p := range probes {
			if !p.set {
				continue
			}
			handlers := make([]*ast.Term, 0, len(probeHandlers))
			for j, h := range probeHandlers {
				if p.handlers&(1<<j) != 0 {
					handlers = append(handlers, ast.InternedTerm(h))
				}
			}
			pairs = append(pairs, [2]*ast.Term{ast.InternedTerm(probeKeys[i]), ast.ArrayTerm(handlers...)})
		}
		return ast.ObjectTerm(pairs...)
	})
}

// unsetTerm is {"requests": {...}, "limits": {...}, "probes": {...}}: the resources of the
// plan and the probes the container does not set (and no pod-level value stands for), each
// with the field path it would have. Empty sections are left out. The paths are made only
// for what is not set, so a compliant container costs nothing here.
func (plan *inputPlan) unsetTerm(c *containerFacts, pod *resourceFacts, specPath string) *ast.Term {
	key := unsetKey{specPath: specPath, typ: c.typ, index: c.index}
	for i, values := range [2][]resourceValue{c.resources.requests, c.resources.limits} {
		for j, name := range plan.resources {
			if j < 64 && get(values, name) == nil && !plan.sharedAtPodLevel(i, pod, name) {
				key.resources[i] |= 1 << j
			}
		}
	}
	for i, p := range c.probes {
		if !p.set {
			key.probes |= 1 << i
		}
	}
	if plan.unset == nil || len(plan.resources) > 64 {
		return plan.buildUnset(key)
	}
	return plan.unset.get(key, plan.buildUnset)
}

// sharedAtPodLevel reports whether a pod-level value stands for resource name in section i
// (0 requests, 1 limits) of every container.
func (plan *inputPlan) sharedAtPodLevel(i int, pod *resourceFacts, name string) bool {
	if !plan.podLevel[i] {
		return false
	}
	return get(pod.limits, name) != nil || (i == 0 && get(pod.requests, name) != nil)
}

// unsetKey says, for the container at specPath.typ[index], which resources of the plan
// (bit j: plan.resources[j]), in requests and limits, and which probes it does not set.
type unsetKey struct {
	specPath, typ string
	index         int
	resources     [2]uint64
	probes        uint8
}

func (plan *inputPlan) buildUnset(key unsetKey) *ast.Term {
	path := key.specPath + "." + key.typ + "[" + strconv.Itoa(key.index) + "]"
	pairs := make([][2]*ast.Term, 0, 3)
	for i, section := range [2]string{"requests", "limits"} {
		var fields [][2]*ast.Term
		for j, name := range plan.resources {
			if key.resources[i]&(1<<j) != 0 {
				fields = append(fields, [2]*ast.Term{ast.StringTerm(name), ast.StringTerm(path + ".resources." + section + "." + name)})
			}
		}
		if len(fields) > 0 {
			pairs = append(pairs, [2]*ast.Term{ast.InternedTerm(section), ast.ObjectTerm(fields...)})
		}
	}
	var probes [][2]*ast.Term
	for i, probe := range probeKeys {
		if key.probes&(1<<i) != 0 {
			probes = append(probes, [2]*ast.Term{ast.InternedTerm(probe), ast.StringTerm(path + "." + probe)})
		}
	}
	if len(probes) > 0 {
		pairs = append(pairs, [2]*ast.Term{ast.InternedTerm("probes"), ast.ObjectTerm(probes...)})
	}
	return ast.ObjectTerm(pairs...)
}

// unreadableTerm is {"requests": [...], "limits": [...]}: the resources whose value cannot
// be read; nil when there are none, as usual.
func unreadableTerm(r *resourceFacts) *ast.Term {
	var pairs [][2]*ast.Term
	for _, s := range [...]struct {
		name   string
		values []resourceValue
	}{{"requests", r.requests}, {"limits", r.limits}} {
		var names []*ast.Term
		for _, v := range s.values {
			if v.err != nil {
				names = append(names, stringTerm(v.name))
			}
		}
		if len(names) > 0 {
			pairs = append(pairs, [2]*ast.Term{ast.InternedTerm(s.name), ast.ArrayTerm(names...)})
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	return ast.ObjectTerm(pairs...)
}

// resourcesTerm is {"requests": {...}, "limits": {...}}, each section present when it has
// a value.
func resourcesTerm(r *resourceFacts) *ast.Term {
	if len(r.requests)+len(r.limits) == 0 {
		return emptyObject
	}
	pairs := make([][2]*ast.Term, 0, 2)
	for _, s := range [...]struct {
		name   string
		values []resourceValue
	}{{"requests", r.requests}, {"limits", r.limits}} {
		if len(s.values) == 0 {
			continue
		}
		section := make([][2]*ast.Term, len(s.values))
		for i := range s.values {
			section[i] = [2]*ast.Term{stringTerm(s.values[i].name), quantityTerm(&s.values[i])}
		}
		pairs = append(pairs, [2]*ast.Term{ast.InternedTerm(s.name), ast.ObjectTerm(section...)})
	}
	return ast.ObjectTerm(pairs...)
}

// quantityTerm is the quantity as the rules see it: {"value": as written, "number": exact
// value}, or {"value": as written, "error": why it cannot be read}.
func quantityTerm(v *resourceValue) *ast.Term {
	build := func(raw string) *ast.Term {
		v := readResourceValue(v.name, raw)
		// The value as written, whole: a mutation copies it into the object, so it must
		// be the value read; messages shorten a long one (lib.show_quantity).
		var written ast.Value = ast.String("")
		if text, plain := plainString(raw); plain {
			written = ast.String(text)
		} else if w, err := jsonValue(raw, ast.Null{}); err == nil {
			written = w // raw was read by the scanner, so it is valid JSON
		}
		var second [2]*ast.Term
		if v.err != nil {
			second = [2]*ast.Term{ast.InternedTerm("error"), ast.InternedTerm(v.err.Error())}
		} else {
			second = [2]*ast.Term{ast.InternedTerm("number"), ast.NumberTerm(json.Number(v.q.Decimal()))}
		}
		return ast.ObjectTerm([2]*ast.Term{ast.InternedTerm("value"), ast.NewTerm(written)}, second)
	}
	if len(v.raw) > maxCachedKey {
		return build(v.raw)
	}
	return quantityTerms.get(v.raw, build)
}

// maxShownValue is the length of the longest value messages show as it is written.
const maxShownValue = 64

// shortened is a value as messages show it: the start of a long one. It is for reading
// only: what is copied or compared is the value itself (lib.show_quantity does the same
// for the rules' messages).
func shortened(text string) string {
	if len(text) <= maxShownValue {
		return text
	}
	return fmt.Sprintf("%s... (%d characters)", strings.ToValidUTF8(text[:maxShownValue/2], ""), len(text))
}

// plainString returns the text of a JSON string literal that needs no unquoting.
func plainString(lit string) (string, bool) {
	if len(lit) < 2 || lit[0] != '"' {
		return "", false
	}
	text := lit[1 : len(lit)-1]
	if special(text) >= 0 {
		return "", false
	}
	return text, true
}

// labelsTerm reads a JSON object of labels: the members with a string value (Kubernetes
// labels are strings; anything else counts as not set). "" or another type gives {}.
func labelsTerm(text string) (*ast.Term, error) {
	if len(text) > maxCachedKey {
		return readLabels(text)
	}
	var err error
	t := labelTerms.get(text, func(text string) *ast.Term {
		t, e := readLabels(text)
		if e != nil {
			err = e
			return nil // a malformed text is not kept
		}
		return t
	})
	return t, err
}

func readLabels(text string) (*ast.Term, error) {
	obj := ast.NewObjectWithCapacity(8)
	if text == "" {
		return ast.NewTerm(obj), nil
	}
	p := scanner{s: text}
	_, err := p.members(func(key string) error {
		s, ok, err := p.stringValue()
		if ok {
			obj.Insert(ast.StringTerm(key), ast.StringTerm(s)) // a repeated key: the last one wins
		}
		return err
	})
	return ast.NewTerm(obj), err
}
