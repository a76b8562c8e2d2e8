package offline

import "testing"

func TestExcludes(t *testing.T) {
	tests := map[string]struct {
		patterns []string
		path     string
		dir      bool
		want     bool
	}{
		"a name without slash matches at any depth":     {[]string{"vendor"}, "a/b/vendor", true, true},
		"a name matches a file too":                     {[]string{"secret.yaml"}, "deploy/secret.yaml", false, true},
		"a trailing slash matches directories only":     {[]string{"vendor/"}, "vendor", false, false},
		"a trailing slash matches a directory":          {[]string{"vendor/"}, "x/vendor", true, true},
		"a slash in the middle anchors to the root":     {[]string{"deploy/dev"}, "apps/deploy/dev", true, false},
		"an anchored pattern matches at the root":       {[]string{"deploy/dev"}, "deploy/dev", true, true},
		"a leading slash anchors":                       {[]string{"/tmp"}, "a/tmp", true, false},
		"a star does not cross a slash":                 {[]string{"deploy/*.yaml"}, "deploy/a/b.yaml", false, false},
		"a star matches within a name":                  {[]string{"*.tmpl.yaml"}, "x/svc.tmpl.yaml", false, true},
		"a leading ** matches in every directory":       {[]string{"**/testdata"}, "a/b/testdata", true, true},
		"a middle ** matches zero directories":          {[]string{"a/**/b"}, "a/b", true, true},
		"a middle ** matches several":                   {[]string{"a/**/b"}, "a/x/y/b", true, true},
		"a trailing ** matches everything inside":       {[]string{"a/**"}, "a/x/y.yaml", false, true},
		"a negation takes a path back":                  {[]string{"*.yaml", "!keep.yaml"}, "keep.yaml", false, false},
		"the last matching pattern decides":             {[]string{"!keep.yaml", "*.yaml"}, "keep.yaml", false, true},
		"a character class":                             {[]string{"v[0-9].yaml"}, "v1.yaml", false, true},
		"a question mark is one character, not a slash": {[]string{"a?b"}, "a/b", false, false},
		"nothing matches when no pattern is given":      {nil, "a.yaml", false, false},
		"regular expression characters are taken as-is": {[]string{"a+b.yaml"}, "a+b.yaml", false, true},
		"a dot is a dot":                                {[]string{"a.yaml"}, "axyaml", false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			x, err := ParseExcludes(tc.patterns)
			if err != nil {
				t.Fatal(err)
			}
			if got := x.excluded(tc.path, tc.dir); got != tc.want {
				t.Errorf("%q excludes %q (dir %v): %v, want %v", tc.patterns, tc.path, tc.dir, got, tc.want)
			}
		})
	}
	if _, err := ParseExcludes([]string{"a[b"}); err == nil {
		t.Error("an unclosed [ was accepted")
	}
}
