package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// DefaultsAnnotation records on a mutated Pod what podguard added, so a reader of the
// stored object can tell a default from a value its author chose.
const DefaultsAnnotation = "podguard.io/defaults"

// mutate returns podguard's missing defaults, and the object's JSON with them filled in
// (nil when there are none). It never changes a value that is set, so running it on its
// output adds nothing.
func (e *Engine) mutate(ctx context.Context, o *Object) ([]Addition, []byte, error) {
	adds, err := e.additions(ctx, o, Namespace{}, asWritten)
	if err != nil || len(adds) == 0 {
		return nil, nil, err
	}
	out, err := o.apply(nil, adds)
	return adds, out, err
}

// admitted returns the object as the cluster would store it: the API server's and the
// LimitRanges' defaults, then podguard's, filled in; and podguard's additions.
func (e *Engine) admitted(ctx context.Context, o *Object, ns Namespace) ([]byte, []Addition, error) {
	_, cluster := o.pod.withClusterDefaults(ns.LimitRanges)
	adds, err := e.additions(ctx, o, ns, withClusterDefaults)
	if err != nil {
		return nil, nil, err
	}
	if len(cluster)+len(adds) == 0 {
		return o.JSON(), nil, nil
	}
	out, err := o.apply(cluster, adds)
	return out, adds, err
}

// apply sets the cluster's and podguard's additions in the object and records podguard's
// in DefaultsAnnotation.
func (o *Object) apply(cluster, podguard []Addition) ([]byte, error) {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(o.text))
	dec.UseNumber() // numbers stay as written, so the patch touches only what was added
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	template := m
	path, _ := o.templatePath()
	for _, k := range path {
		template = child(template, k)
	}
	spec, _ := template["spec"].(map[string]any)
	set := func(a Addition) (bool, error) {
		list, _ := spec[a.ContainerType].([]any)
		if a.Index < 0 || a.Index >= len(list) {
			return false, fmt.Errorf("defaults: %s[%d] does not exist", a.ContainerType, a.Index)
		}
		c, ok := list[a.Index].(map[string]any)
		if !ok {
			return false, fmt.Errorf("defaults: %s[%d] is not an object", a.ContainerType, a.Index)
		}
		section := child(child(c, "resources"), a.Section)
		if v, set := section[a.Resource]; set && v != nil && v != "" {
			return false, nil // never overwrite what the author wrote
		}
		section[a.Resource] = a.Value
		return true, nil
	}
	for _, a := range cluster {
		if _, err := set(a); err != nil {
			return nil, err
		}
	}
	var notes []string
	for _, a := range podguard {
		added, err := set(a)
		if err != nil {
			return nil, err
		}
		if added {
			notes = append(notes, fmt.Sprintf("%s:%s.%s=%s", a.Container, a.Section, a.Resource, a.Value))
		}
	}
	if len(notes) > 0 {
		// Called again after a later webhook added a container (reinvocationPolicy
		// IfNeeded), podguard adds to what it recorded the first time.
		annotations := child(child(template, "metadata"), "annotations")
		if before, ok := annotations[DefaultsAnnotation].(string); ok && before != "" {
			notes = append([]string{before}, notes...)
		}
		annotations[DefaultsAnnotation] = strings.Join(notes, ",")
	}
	return json.Marshal(m)
}

// child returns m[key] as a map, creating it when absent or null.
func child(m map[string]any, key string) map[string]any {
	c, ok := m[key].(map[string]any)
	if !ok {
		c = map[string]any{}
		m[key] = c
	}
	return c
}
