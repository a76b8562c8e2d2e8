package config_test

import (
	"testing"
	"time"

	"github.com/podguard/podguard/policies/config"
)

// TestExceptionErrors: an exception is refused unless it names known rules, what it
// covers and why; the errors name the key and what it takes. want is the exact error.
func TestExceptionErrors(t *testing.T) {
	const match = "    match: {namespace: shop, name: web}\n"
	cases := map[string]struct{ yaml, want string }{
		"not a list": {
			yaml: "exceptions: {rules: [image-tag]}\n",
			want: "exceptions: must be a list, not a mapping",
		},
		"an unknown key": {
			yaml: "exceptions:\n  - rules: [image-tag]\n" + match + "    reason: r\n    until: 2027-03-01\n",
			want: "exceptions[0].until: unknown key (expected expires, match, reason, rules)",
		},
		"no reason": {
			yaml: "exceptions:\n  - rules: [image-tag]\n" + match,
			want: "exceptions[0].reason: required: say why the exception is granted (a reviewer reads it, and admission logs it)",
		},
		"a blank reason": {
			yaml: "exceptions:\n  - rules: [image-tag]\n" + match + "    reason: \"  \"\n",
			want: "exceptions[0].reason: required: say why the exception is granted (a reviewer reads it, and admission logs it)",
		},
		"no rules": {
			yaml: "exceptions:\n  - reason: r\n" + match,
			want: "exceptions[0].rules: required: a list of one or more rule ids",
		},
		"an unknown rule": {
			yaml: "exceptions:\n  - rules: [image-tags]\n    reason: r\n" + match,
			want: `exceptions[0].rules[0]: unknown rule "image-tags" (known: ` + known + ")",
		},
		"an unknown match key": {
			yaml: "exceptions:\n  - rules: [image-tag]\n    reason: r\n    match: {namespace: shop, name: web, label: x}\n",
			want: "exceptions[0].match.label: unknown key (expected container, kind, name, namespace)",
		},
		"no name": {
			yaml: "exceptions:\n  - rules: [image-tag]\n    reason: r\n    match: {namespace: shop}\n",
			want: `exceptions[0].match.name: required (a glob; "*" for any)`,
		},
		"no match": {
			yaml: "exceptions:\n  - rules: [image-tag]\n    reason: r\n",
			want: "exceptions[0].match: required: namespace and name (globs), kind and container (optional)",
		},
		"a bad glob": {
			yaml: "exceptions:\n  - rules: [image-tag]\n    reason: r\n    match: {namespace: shop, name: \"web[\"}\n",
			want: `exceptions[0].match.name: "web[" is not a valid glob pattern`,
		},
		"a bad expiry": {
			yaml: "exceptions:\n  - rules: [image-tag]\n    reason: r\n" + match + "    expires: March\n",
			want: `exceptions[0].expires: "March" is neither a date (2027-03-01) nor an RFC 3339 time (2027-03-01T00:00:00Z)`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml), nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got error %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestExceptionExpires: an exception applies until the instant it expires, a date
// meaning the start of that day in UTC.
func TestExceptionExpires(t *testing.T) {
	for expires, at := range map[string]time.Time{
		"2027-03-01":                time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC),
		"2027-03-01T12:00:00+02:00": time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC),
	} {
		cfg, err := config.Parse([]byte("exceptions:\n  - rules: [image-tag]\n    reason: r\n    match: {namespace: shop, name: web}\n    expires: \""+expires+"\"\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		x := cfg.Exceptions[0]
		if x.Expired(at.Add(-time.Nanosecond)) || !x.Expired(at) {
			t.Errorf("expires %s: want in force until %s and expired from then", expires, at)
		}
		if got := cfg.ExpiredExceptions(at); len(got) != 1 {
			t.Errorf("expires %s: ExpiredExceptions(%s) = %v, want the exception", expires, at, got)
		}
	}
}
