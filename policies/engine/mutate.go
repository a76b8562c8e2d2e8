package engine

import (
	"context"
	"fmt"
	"strings"
)

// DefaultsAnnotation records on a mutated Pod what podguard added, so a reader of the
// stored object can tell a default from a value its author chose.
const DefaultsAnnotation = "podguard.io/defaults"

// Mutate returns a copy of the object with the missing defaults filled in, and what was
// added. It never changes a value that is set, so running it on its output adds nothing.
func (e *Engine) Mutate(ctx context.Context, o *Object) (*Object, []Addition, error) {
	adds, err := e.Defaults(ctx, o)
	if err != nil || len(adds) == 0 {
		return o, nil, err
	}
	out := o.DeepCopy()
	spec, _ := out.template["spec"].(map[string]any)
	var notes []string
	for _, a := range adds {
		list, _ := spec[a.ContainerType].([]any)
		if a.Index < 0 || a.Index >= len(list) {
			return nil, nil, fmt.Errorf("defaults: %s[%d] does not exist", a.ContainerType, a.Index)
		}
		c, ok := list[a.Index].(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("defaults: %s[%d] is not an object", a.ContainerType, a.Index)
		}
		section := child(child(c, "resources"), a.Section)
		if v, set := section[a.Resource]; set && v != nil && v != "" {
			continue // never overwrite what the author wrote
		}
		section[a.Resource] = a.Value
		notes = append(notes, fmt.Sprintf("%s:%s.%s=%s", a.Container, a.Section, a.Resource, a.Value))
	}
	if len(notes) > 0 {
		annotations := child(child(out.template, "metadata"), "annotations")
		annotations[DefaultsAnnotation] = strings.Join(notes, ",")
	}
	return out, adds, nil
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
