package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gobwas/glob"
)

// Exception lets named objects break named rules, for a reason and until a time. It lives
// only in the admin's configuration: nothing in an object can grant one.
type Exception struct {
	// Index is the exception's place in the exceptions list, which messages name.
	Index int
	Rules []string
	// Namespace, Kind, Name and Container are globs ("" for Kind and Container matches
	// any); Kind matches the object's kind or, for an object its controller made, the
	// controller's.
	Namespace, Kind, Name, Container string
	Reason                           string
	// Expires is when the exception stops applying; zero for never.
	Expires time.Time

	namespace, kind, name, container *glob.Pattern
}

// exceptionKeys are the keys of one exception, and of its match.
var (
	exceptionKeys = []string{"expires", "match", "reason", "rules"}
	matchKeys     = []string{"container", "kind", "name", "namespace"}
)

// exceptions validates the exceptions section and compiles its globs.
func exceptions(v any, known []string) ([]Exception, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("exceptions: must be a list, not %s", show(v))
	}
	out := make([]Exception, 0, len(list))
	for i, item := range list {
		p := fmt.Sprintf("exceptions[%d]", i)
		m, err := mapping(p, item)
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(m) {
			if !slices.Contains(exceptionKeys, k) {
				return nil, fmt.Errorf("%s.%s: unknown key (expected %s)", p, k, strings.Join(exceptionKeys, ", "))
			}
		}
		x := Exception{Index: i}
		rules, ok := m["rules"].([]any)
		if !ok || len(rules) == 0 {
			return nil, fmt.Errorf("%s.rules: required: a list of one or more rule ids", p)
		}
		for j, r := range rules {
			id, _ := r.(string)
			if !slices.Contains(known, id) {
				return nil, fmt.Errorf("%s.rules[%d]: unknown rule %s (known: %s)", p, j, show(r), strings.Join(known, ", "))
			}
			x.Rules = append(x.Rules, id)
		}
		reason, _ := m["reason"].(string)
		if strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s.reason: required: say why the exception is granted (a reviewer reads it, and admission logs it)", p)
		}
		x.Reason = reason
		if e, set := m["expires"]; set {
			if x.Expires, err = expiry(p+".expires", e); err != nil {
				return nil, err
			}
		}
		if m["match"] == nil {
			return nil, fmt.Errorf("%s.match: required: namespace and name (globs), kind and container (optional)", p)
		}
		match, err := mapping(p+".match", m["match"])
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(match) {
			if !slices.Contains(matchKeys, k) {
				return nil, fmt.Errorf("%s.match.%s: unknown key (expected %s)", p, k, strings.Join(matchKeys, ", "))
			}
			if err := globPattern(p+".match."+k, match[k]); err != nil {
				return nil, err
			}
		}
		// An exception names what it covers: a namespace and a name, "*" if it must.
		for _, k := range []string{"namespace", "name"} {
			if _, set := match[k]; !set {
				return nil, fmt.Errorf(`%s.match.%s: required (a glob; "*" for any)`, p, k)
			}
		}
		x.Namespace, _ = match["namespace"].(string)
		x.Kind, _ = match["kind"].(string)
		x.Name, _ = match["name"].(string)
		x.Container, _ = match["container"].(string)
		x.namespace, x.name = glob.MustCompile(x.Namespace), glob.MustCompile(x.Name)
		x.kind, x.container = compileOptional(x.Kind), compileOptional(x.Container)
		out = append(out, x)
	}
	return out, nil
}

func compileOptional(pattern string) *glob.Pattern {
	if pattern == "" {
		return nil
	}
	return glob.MustCompile(pattern)
}

// expiry reads an RFC 3339 time, or a date, which means the start of that day in UTC.
func expiry(p string, v any) (time.Time, error) {
	s, _ := v.(string)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if err := rfc3339(p, v); err != nil {
		return time.Time{}, fmt.Errorf("%s: %s is neither a date (2027-03-01) nor an RFC 3339 time (2027-03-01T00:00:00Z)", p, show(v))
	}
	t, _ := time.Parse(time.RFC3339, s)
	return t, nil
}

// Expired reports whether the exception no longer applies at now.
func (x *Exception) Expired(now time.Time) bool {
	return !x.Expires.IsZero() && !now.Before(x.Expires)
}

// Covers reports whether the exception, in force at now, covers a violation of rule by
// container (or the whole object when container is "") in an object of a kind with a
// namespace and name. owners are the kinds and names of what made the object (a Pod's
// ReplicaSet, its Deployment), which an exception on them covers too.
func (x *Exception) Covers(now time.Time, rule, namespace, container string, kind, name string, owners ...[2]string) bool {
	if x.Expired(now) || !slices.Contains(x.Rules, rule) || !x.namespace.Match(namespace) {
		return false
	}
	if x.container != nil && !x.container.Match(container) {
		return false
	}
	if x.matchesObject(kind, name) {
		return true
	}
	for _, o := range owners {
		if x.matchesObject(o[0], o[1]) {
			return true
		}
	}
	return false
}

func (x *Exception) matchesObject(kind, name string) bool {
	return kind != "" && (x.kind == nil || x.kind.Match(kind)) && x.name.Match(name)
}

// String names the exception for messages: its place in the configuration and its reason.
func (x *Exception) String() string {
	s := fmt.Sprintf("exceptions[%d]: %s", x.Index, x.Reason)
	if !x.Expires.IsZero() {
		s += " (until " + x.Expires.UTC().Format(time.RFC3339) + ")"
	}
	return s
}

// ExpiredExceptions lists the exceptions that no longer apply at now.
func (c *Config) ExpiredExceptions(now time.Time) []Exception {
	var out []Exception
	for _, x := range c.Exceptions {
		if x.Expired(now) {
			out = append(out, x)
		}
	}
	return out
}
