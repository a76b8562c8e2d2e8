package offline

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// excludes are --exclude patterns, matched as .gitignore lines are matched against a path
// relative to the directory being read: a pattern without a slash matches a name at any
// depth, one with a slash is anchored, a trailing slash matches directories only, "**"
// spans directories, and "!" takes a path back in. The last matching pattern decides.
type excludes []exclude

type exclude struct {
	re      *regexp.Regexp
	dirOnly bool
	negate  bool
}

// ParseExcludes compiles --exclude patterns.
func ParseExcludes(patterns []string) (excludes, error) {
	var out excludes
	for _, p := range patterns {
		e := exclude{}
		if strings.HasPrefix(p, "!") {
			e.negate, p = true, p[1:]
		}
		if strings.HasSuffix(p, "/") {
			e.dirOnly, p = true, strings.TrimRight(p, "/")
		}
		if p == "" {
			return nil, fmt.Errorf("--exclude %q: an empty pattern", p)
		}
		anchored := strings.Contains(p, "/")
		p = strings.TrimPrefix(p, "/")
		expr, err := globRegexp(p)
		if err != nil {
			return nil, fmt.Errorf("--exclude %q: %w", p, err)
		}
		if !anchored {
			expr = "(?:.*/)?" + expr
		}
		if e.re, err = regexp.Compile("^" + expr + "$"); err != nil {
			return nil, fmt.Errorf("--exclude %q: %w", p, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// globRegexp translates a gitignore glob into a regular expression.
func globRegexp(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				return "", fmt.Errorf("unclosed [")
			}
			class := p[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += end + 1
		case c == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String(), nil
}

// excluded reports whether rel (slash-separated, relative to the directory read) is left
// out.
func (x excludes) excluded(rel string, dir bool) bool {
	rel = filepath.ToSlash(rel)
	out := false
	for _, e := range x {
		if e.dirOnly && !dir {
			continue
		}
		if e.re.MatchString(rel) {
			out = !e.negate
		}
	}
	return out
}
