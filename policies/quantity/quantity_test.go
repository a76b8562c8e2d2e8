package quantity

import (
	"encoding/json"
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/inf.v0"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies"
)

func TestReadQuantity(t *testing.T) {
	tests := map[string]struct {
		in, want string // want: the decimal, or the error
	}{
		"milli":                         {"100m", "0.1"},
		"plain":                         {"2", "2"},
		"binary":                        {"128Mi", "134217728"},
		"binary with a fraction":        {"1.5Gi", "1610612736"},
		"binary fraction below one":     {"0.5Ki", "512"},
		"decimal exponent":              {"1e3", "1000"},
		"negative exponent":             {"25e-3", "0.025"},
		"nano":                          {"5n", "0.000000005"},
		"micro":                         {"250u", "0.00025"},
		"rounded up to the nano unit":   {"0.0000000001", "0.000000001"},
		"rounded up, not to nearest":    {"1.0000000001", "1.000000001"},
		"exact below the nano unit":     {"1.5000000000", "1.5"},
		"negative":                      {"-1.5", "-1.5"},
		"leading plus and zeros":        {"+007", "7"},
		"only a sign reads as zero":     {"-", "0"},
		"a point reads as zero":         {".", "0"},
		"point with a unit":             {".Ki", "0"},
		"largest int64":                 {"9223372036854775807", "9223372036854775807"},
		"binary beyond int64 is capped": {"99999999999Ei", "9223372036854775807"},
		"huge exponent":                 {"1e999999", ErrRange.Error()},
		"exponent past int32 wraps":     {"1e4294967296", "1"},
		"just past int64":               {"9223372036854775808", ErrRange.Error()},
		"fraction past int64":           {"9223372036854775807.5", ErrRange.Error()},
		"many digits":                   {strings.Repeat("9", 100000), ErrRange.Error()},
		"tiny with a huge exponent":     {"1e-999999", "0.000000001"},
		"no digits below nano":          {".e-10", ErrFormat.Error()},
		"empty":                         {"", ErrFormat.Error()},
		"space":                         {"1 Gi", ErrFormat.Error()},
		"unknown unit":                  {"1mi", ErrFormat.Error()},
		"word":                          {"lots", ErrFormat.Error()},
		"exponent without digits":       {"1e", ErrFormat.Error()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q, err := Read(tc.in)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = q.Decimal()
			}
			if got != tc.want {
				t.Errorf("Read(%.40q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// bigScale finds the exponents past which resource.ParseQuantity's own arithmetic (inf.Dec
// rounding and comparison) takes seconds or more: those inputs are what readQuantity exists
// for, and are compared by their syntax only.
var bigScale = regexp.MustCompile(`[eE][+-]?0*[0-9]{4,}`)

// FuzzReadQuantity holds readQuantity to resource.ParseQuantity: the same strings are
// refused, and an accepted one has the same value, or is out of range exactly when
// Kubernetes' value is beyond 2^63-1.
func FuzzReadQuantity(f *testing.F) {
	for _, s := range []string{"100m", "1", "1.5", "1.", ".5", "+1", "-1", "1e3", "1E3", "1e-3", "1E", "1e", "1Ki", "1Mi",
		"1Gi", "1Ti", "1Pi", "1Ei", "1k", "1K", "1M", "1G", "1T", "1P", "5n", "250u", "1.5e3Mi", "abc", "", "1 Gi", "--1",
		"1x", "1e9999999", "1e999999", "0x10", ".", "-", "1e+", "1.2.3", `1"`, "1n5", "nu", "1mi", "1MI", "0.0000000001",
		"1.5Ki", "123456789012345678901234567890", "99999999999Ei", ".e-10", "-0.000000000001", "7Ei", "8Ei", "1e-9"} {
		f.Add(s)
	}
	max := new(inf.Dec)
	max.SetString(Max)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Read(s)
		if bigScale.MatchString(s) || len(s) > 200 {
			return
		}
		want, werr := resource.ParseQuantity(s)
		if werr != nil {
			if err == nil {
				t.Fatalf("Read(%q) = %s; ParseQuantity refuses it: %v", s, got.Decimal(), werr)
			}
			return
		}
		wd := want.AsDec()
		if errors.Is(err, ErrRange) {
			if new(inf.Dec).Abs(wd).Cmp(max) <= 0 {
				t.Fatalf("Read(%q) is out of range; ParseQuantity reads %s", s, wd)
			}
			return
		}
		if err != nil {
			t.Fatalf("Read(%q): %v; ParseQuantity reads %s", s, err, wd)
		}
		gd, ok := new(inf.Dec).SetString(got.Decimal())
		if !ok {
			t.Fatalf("Read(%q) = %q, not a decimal", s, got.Decimal())
		}
		if gd.Cmp(wd) != 0 {
			t.Fatalf("Read(%q) = %s; ParseQuantity reads %s", s, gd, wd)
		}
	})
}

// TestPolicyTestQuantities: the values the policy tests read quantities with
// (pod/quantities/data.yaml, which opa test loads as data.pod.quantities) are podguard's own
// readings of those strings, so the policy tests compare what the rules will compare.
func TestPolicyTestQuantities(t *testing.T) {
	raw, err := policies.FS.ReadFile(policies.TestQuantitiesPath)
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]json.Number
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	if len(values) < 10 {
		t.Fatalf("only %d quantities in %s", len(values), policies.TestQuantitiesPath)
	}
	for s, want := range values {
		q, err := Read(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		w, ok := new(big.Rat).SetString(want.String())
		if !ok {
			t.Errorf("%q: %s is not a number", s, want)
			continue
		}
		if got, _ := new(big.Rat).SetString(q.Decimal()); got.Cmp(w) != 0 {
			t.Errorf("%q is %s in %s; podguard reads %s", s, want, policies.TestQuantitiesPath, q.Decimal())
		}
	}
}
