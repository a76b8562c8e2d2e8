package quantity

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Max is the largest magnitude podguard compares: 2^63-1, the largest value Kubernetes' own
// int64 readings of a quantity can hold.
const Max = "9223372036854775807"

var (
	// ErrFormat is the error of a string the API server does not read as a quantity.
	ErrFormat = errors.New("is not a quantity such as 500m, 2 or 256Mi")
	// ErrRange is the error of a quantity whose magnitude is above Max.
	ErrRange = errors.New("is larger than any quantity Kubernetes can use (" + Max + ")")
)

// Value is an exact decimal: (-1 if neg) × digits × 10^exp. digits has no leading zeros; it
// is empty for zero.
type Value struct {
	neg    bool
	digits string
	exp    int64
}

// Read reads s with resource.ParseQuantity's syntax and value: the same strings are accepted
// and refused, and the value is the one it gives (rounded up to the nano unit where it
// rounds, capped where it caps). A value beyond Max is refused with ErrRange.
func Read(s string) (Value, error) {
	if s == "" {
		return Value{}, ErrFormat
	}
	if s == "0" {
		return Value{}, nil
	}
	p, err := splitQuantity(s)
	if err != nil {
		return Value{}, err
	}
	base, exponent, ok := quantitySuffix(p.suffix)
	if !ok {
		return Value{}, ErrFormat
	}
	if q, ok := p.fast(base, exponent); ok {
		return q, checkRange(q)
	}
	return p.slow(base, exponent)
}

// quantityParts are the pieces of a quantity string, split as parseQuantityString splits them.
type quantityParts struct {
	neg bool
	// num is the integer part without leading zeros ("0" when it has none), denom the
	// fraction's digits, suffix what follows (a unit or an exponent).
	num, denom, suffix string
	// hasDigit says whether the number before the suffix has a digit at all: "." and "-"
	// read as zero where the value fits an int64, and are refused where it does not.
	hasDigit bool
}

func splitQuantity(s string) (quantityParts, error) {
	var p quantityParts
	pos := 0
	switch s[0] {
	case '-':
		p.neg = true
		pos++
	case '+':
		pos++
	}
	for pos < len(s) && s[pos] == '0' {
		pos++
		p.hasDigit = true
	}
	if pos == len(s) {
		// Only zeros (or a sign): zero, whatever the sign.
		p.num, p.hasDigit = "0", true
		return p, nil
	}
	start := pos
	for pos < len(s) && isDigit(s[pos]) {
		pos++
	}
	p.num = s[start:pos]
	if p.num == "" {
		p.num = "0"
	} else {
		p.hasDigit = true
	}
	if pos < len(s) && s[pos] == '.' {
		pos++
		start = pos
		for pos < len(s) && isDigit(s[pos]) {
			pos++
		}
		p.denom = s[start:pos]
		if p.denom != "" {
			p.hasDigit = true
		}
	}
	start = pos
	for pos < len(s) && strings.IndexByte("eEinumkKMGTP", s[pos]) >= 0 {
		pos++
	}
	if pos < len(s) && (s[pos] == '-' || s[pos] == '+') {
		pos++
	}
	for pos < len(s) && isDigit(s[pos]) {
		pos++
	}
	if pos < len(s) {
		return p, ErrFormat
	}
	p.suffix = s[start:]
	return p, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// quantitySuffix interprets a suffix: a decimal unit (n to E), a binary one (Ki to Ei) or a
// decimal exponent. The exponent is read as an int64 and then truncated to an int32, as the
// API server does.
func quantitySuffix(s string) (base int, exponent int32, ok bool) {
	switch s {
	case "":
		return 10, 0, true
	case "n":
		return 10, -9, true
	case "u":
		return 10, -6, true
	case "m":
		return 10, -3, true
	case "k":
		return 10, 3, true
	case "M":
		return 10, 6, true
	case "G":
		return 10, 9, true
	case "T":
		return 10, 12, true
	case "P":
		return 10, 15, true
	case "E":
		return 10, 18, true
	case "Ki":
		return 2, 10, true
	case "Mi":
		return 2, 20, true
	case "Gi":
		return 2, 30, true
	case "Ti":
		return 2, 40, true
	case "Pi":
		return 2, 50, true
	case "Ei":
		return 2, 60, true
	}
	if len(s) > 1 && (s[0] == 'e' || s[0] == 'E') {
		n, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil {
			return 0, 0, false
		}
		return 10, int32(n), true
	}
	return 0, 0, false
}

// fast is ParseQuantity's path for values that fit an int64 at a scale of at least 10^-9,
// taken under the same conditions; it never rounds.
func (p quantityParts) fast(base int, exponent int32) (Value, bool) {
	var scale, precision int32
	mantissa := int64(1)
	if base == 10 {
		scale = exponent
		precision = 18 - int32(len(p.num)+len(p.denom))
	} else {
		if exponent < 0 || p.denom != "" {
			return Value{}, false
		}
		mantissa = 1 << exponent
		precision = 15 - int32(len(p.num)) - int32(float32(exponent)*3/10) - 1
	}
	if precision < 0 {
		return Value{}, false
	}
	scale -= int32(len(p.denom))
	if scale < -9 {
		return Value{}, false
	}
	value, err := strconv.ParseInt(p.num+p.denom, 10, 64)
	if err != nil {
		return Value{}, false
	}
	if value != 0 && mantissa > math.MaxInt64/value {
		return Value{}, false
	}
	value *= mantissa
	if value == 0 {
		return Value{}, true
	}
	return Value{neg: p.neg, digits: strconv.FormatInt(value, 10), exp: int64(scale)}, true
}

// slow is ParseQuantity's path for everything else: the exact value, rounded up to the
// nano unit, binary values capped at 2^63-1.
func (p quantityParts) slow(base int, exponent int32) (Value, error) {
	if !p.hasDigit {
		return Value{}, ErrFormat
	}
	digits := strings.TrimLeft(p.num+p.denom, "0")
	if digits == "" {
		return Value{}, nil
	}
	q := Value{neg: p.neg, digits: digits}
	if base == 10 {
		// The scale of the value's fraction plus the exponent, in the API server's int32
		// arithmetic.
		scale := int32(len(p.denom)) + (-exponent)
		q.exp = -int64(scale)
	} else {
		q.exp = -int64(len(p.denom))
		q.digits = mulPow2(q.digits, uint(exponent))
	}
	q = q.roundUpToNano()
	if base == 2 && q.magnitudeAbove(Max) {
		return Value{neg: q.neg, digits: Max}, nil
	}
	return q, checkRange(q)
}

// mulPow2 multiplies a decimal digit string by 2^k, k at most 60, in one pass.
func mulPow2(digits string, k uint) string {
	out := make([]byte, len(digits)+19)
	var carry uint64
	i := len(out)
	for j := len(digits) - 1; j >= 0; j-- {
		x := uint64(digits[j]-'0')<<k + carry
		i--
		out[i] = byte('0' + x%10)
		carry = x / 10
	}
	for carry > 0 {
		i--
		out[i] = byte('0' + carry%10)
		carry /= 10
	}
	return string(out[i:])
}

// roundUpToNano drops the digits below 10^-9, rounding the magnitude up when one of them is
// not zero.
func (q Value) roundUpToNano() Value {
	if q.exp >= -9 {
		return q
	}
	drop := -9 - q.exp // digits to drop
	if drop >= int64(len(q.digits)) {
		return Value{neg: q.neg, digits: "1", exp: -9}
	}
	kept, dropped := q.digits[:int64(len(q.digits))-drop], q.digits[int64(len(q.digits))-drop:]
	q.digits, q.exp = kept, -9
	if strings.Trim(dropped, "0") != "" {
		q.digits = incrementDigits(kept)
	}
	return q
}

func incrementDigits(digits string) string {
	b := []byte(digits)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != '9' {
			b[i]++
			return string(b)
		}
		b[i] = '0'
	}
	return "1" + string(b)
}

// magnitudeAbove reports whether |q| is above the integer limit (a digit string).
func (q Value) magnitudeAbove(limit string) bool {
	if q.digits == "" {
		return false
	}
	// Digits of the integer part: digits shifted by exp.
	intLen := int64(len(q.digits)) + q.exp
	if intLen != int64(len(limit)) {
		return intLen > int64(len(limit))
	}
	// Same number of integer digits: compare them, then any fraction makes it larger.
	n := min(int64(len(q.digits)), intLen)
	for i := int64(0); i < int64(len(limit)); i++ {
		var d byte = '0'
		if i < n {
			d = q.digits[i]
		}
		if d != limit[i] {
			return d > limit[i]
		}
	}
	return int64(len(q.digits)) > intLen && strings.Trim(q.digits[intLen:], "0") != ""
}

func checkRange(q Value) error {
	if q.magnitudeAbove(Max) {
		return ErrRange
	}
	return nil
}

// decimal renders the value as a JSON number without an exponent: at most 19 digits before
// the point and 9 after it, for a quantity in range.
func (q Value) Decimal() string {
	if q.digits == "" {
		return "0"
	}
	d := strings.TrimRight(q.digits, "0")
	exp := q.exp + int64(len(q.digits)-len(d))
	var b strings.Builder
	b.Grow(len(d) + 24)
	if q.neg {
		b.WriteByte('-')
	}
	switch {
	case exp >= 0:
		b.WriteString(d)
		for range exp {
			b.WriteByte('0')
		}
	case -exp < int64(len(d)):
		point := int64(len(d)) + exp
		b.WriteString(d[:point])
		b.WriteByte('.')
		b.WriteString(d[point:])
	default:
		b.WriteString("0.")
		for range -exp - int64(len(d)) {
			b.WriteByte('0')
		}
		b.WriteString(d)
	}
	return b.String()
}
