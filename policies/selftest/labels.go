package selftest

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// labelValue returns a label value that every pattern matches (as Rego's regex.match
// does: unanchored, RE2 syntax). It tries plain names first, then a string built from
// each pattern's syntax tree.
func labelValue(key string, patterns []string) (string, error) {
	var res []*regexp.Regexp
	candidates := []string{"podguard-selftest", "selftest", "podguard"}
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return "", fmt.Errorf("label %s: allowedRegex %q: %w", key, p, err)
		}
		res = append(res, re)
		if tree, err := syntax.Parse(p, syntax.Perl); err == nil {
			var b strings.Builder
			if sample(&b, tree.Simplify()) {
				candidates = append(candidates, b.String())
			}
		}
	}
	for _, c := range candidates {
		if len(validation.IsValidLabelValue(c)) == 0 && !slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return !re.MatchString(c) }) {
			return c, nil
		}
	}
	return "", fmt.Errorf("label %s: found no label value that matches every allowedRegex %q", key, patterns)
}

// sample writes one short string that re matches: each repetition at its minimum, each
// alternation's first branch, each character class's most label-friendly character.
func sample(b *strings.Builder, re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				r = []rune(strings.ToLower(string(r)))[0]
			}
			b.WriteRune(r)
		}
	case syntax.OpCharClass:
		r, ok := pick(re.Rune)
		if !ok {
			return false
		}
		b.WriteRune(r)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte('a')
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpStar, syntax.OpQuest:
	case syntax.OpCapture, syntax.OpPlus:
		return sample(b, re.Sub[0])
	case syntax.OpRepeat:
		for range re.Min {
			if !sample(b, re.Sub[0]) {
				return false
			}
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !sample(b, sub) {
				return false
			}
		}
	case syntax.OpAlternate:
		return sample(b, re.Sub[0])
	default:
		return false
	}
	return true
}

// pick chooses a character of a class (pairs of inclusive ranges), preferring those a
// label value may contain anywhere.
func pick(ranges []rune) (rune, bool) {
	for _, want := range "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-._" {
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= want && want <= ranges[i+1] {
				return want, true
			}
		}
	}
	if len(ranges) < 2 {
		return 0, false
	}
	return ranges[0], true
}
