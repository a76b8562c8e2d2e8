package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ParameterReference is the parameter reference of the built-in rules in Markdown, as
// policies/README.md carries it: generated from the checks that validate the parameters
// and from the embedded defaults, so the documentation says what podguard accepts.
func ParameterReference() (string, error) {
	def, err := Default()
	if err != nil {
		return "", err
	}
	rules, _ := def.Data["rules"].(map[string]any)
	var b strings.Builder
	b.WriteString("Every rule, custom ones included, takes these two:\n\n")
	writeParams(&b, common, map[string]any{"enforcement": "given below for each built-in rule; deny for a custom rule"})
	for _, id := range BuiltinRules {
		settings, _ := rules[id].(map[string]any)
		fmt.Fprintf(&b, "\n### `%s`\n\nDefault enforcement: `%v`.\n\n", id, settings["enforcement"])
		writeParams(&b, ruleParams[id], settings)
	}
	return b.String(), nil
}

func writeParams(b *strings.Builder, params map[string]param, defaults map[string]any) {
	b.WriteString("| parameter | value | default | what it does |\n|---|---|---|---|\n")
	for _, name := range sortedKeys(params) {
		p := params[name]
		def := "none"
		switch v := defaults[name].(type) {
		case nil:
		case string:
			if strings.Contains(v, " ") {
				def = v // a sentence, not a value
				break
			}
			def = "`" + flow(v) + "`"
		default:
			def = "`" + flow(v) + "`"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", name, p.value, def, strings.ReplaceAll(p.doc, "|", `\|`))
	}
}

// flow writes a configuration value as YAML flow style, as the README's examples do.
func flow(v any) string {
	switch t := v.(type) {
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = flow(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + flow(t[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case string:
		if t == "" || strings.ContainsAny(t, ":{}[],#&*!|>'\"%@`") || t == "off" || t == "on" || t == "yes" || t == "no" {
			return strconv.Quote(t)
		}
		return t
	}
	return fmt.Sprint(v)
}
