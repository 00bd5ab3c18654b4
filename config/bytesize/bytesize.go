// Package bytesize is the one size type of spawnbeat's settings: a number of
// bytes that YAML gives as a number or as a string with a unit, read the way
// Beats read theirs (libbeat's cfgtype.ByteSize, which parses with
// go-humanize's ParseBytes), so that a value copied from a Beat's
// configuration means the same here.
//
// Units, case-insensitive, with or without a space after the number:
//
//	none, b                      bytes
//	k, kb / m, mb / g, gb / ...  powers of 1,000 (kilo-, mega-, giga-, tera-, peta-, exabytes)
//	ki, kib / mi, mib / ...      powers of 1,024 (kibi-, mebi-, gibi-, tebi-, pebi-, exbibytes)
//
// So "8m" and "8MB" are 8,000,000 bytes and "8Mi" and "8MiB" are 8,388,608. A
// fraction is allowed ("1.5GiB") and the result is cut to whole bytes, as
// go-humanize does; signs and exponents are not. A bare number, in YAML or
// in a string, is bytes.
//
// The package imports nothing of spawnbeat's, so that the settings of every
// package (config, the queue, the outputs) can use it without importing one
// another.
package bytesize

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Size is a number of bytes, at most math.MaxInt64. It is a plain value.
type Size int64

// Binary multiples, for defaults and limits in code.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

// ErrInvalid wraps every parse error: not a number, a unit that is not one,
// a negative or fractional number in YAML, or a size above math.MaxInt64.
var ErrInvalid = errors.New("invalid size")

// multipliers maps each unit, lower-cased, to its size in bytes:
// go-humanize's table.
var multipliers = map[string]uint64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "ti": 1 << 40, "tib": 1 << 40,
	"p": 1e15, "pb": 1e15, "pi": 1 << 50, "pib": 1 << 50,
	"e": 1e18, "eb": 1e18, "ei": 1 << 60, "eib": 1 << 60,
}

// Parse reads a size such as "65536", "64KiB", "8 MiB", "1.5GB" or "10mb".
func Parse(text string) (Size, error) {
	s := strings.TrimSpace(text)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	whole := s[:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		frac, i = s[i+1:j], j
	}
	if whole == "" && frac == "" {
		return 0, fmt.Errorf("size %q: no number (e.g. 65536, 64KiB, 8MiB): %w", text, ErrInvalid)
	}
	unit := strings.TrimSpace(s[i:])
	mult, ok := multipliers[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KB, KiB, MB, MiB, GB, GiB, TB or TiB): %w", text, unit, ErrInvalid)
	}
	n, ok := scale(whole, frac, mult)
	if !ok {
		return 0, fmt.Errorf("size %q: larger than %d bytes: %w", text, int64(math.MaxInt64), ErrInvalid)
	}
	return Size(n), nil
}

// scale returns whole.frac × mult cut to an integer, exactly (no floating
// point: "4.35MB" is 4,350,000), and false when it exceeds math.MaxInt64.
func scale(whole, frac string, mult uint64) (uint64, bool) {
	var w uint64
	for _, c := range []byte(whole) {
		hi, lo := bits.Mul64(w, 10)
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		w = lo + uint64(c-'0')
	}
	hi, n := bits.Mul64(w, mult)
	if hi != 0 || n > math.MaxInt64 {
		return 0, false
	}
	// The fraction adds frac/10^len(frac) × mult < mult bytes; digits past
	// the 19th cannot change a whole byte of a multiplier below 10^19.
	frac = frac[:min(len(frac), 19)]
	var f, den uint64 = 0, 1
	for _, c := range []byte(frac) {
		f, den = f*10+uint64(c-'0'), den*10
	}
	fh, fl := bits.Mul64(f, mult)
	part, _ := bits.Div64(fh, fl, den) // fh < den since f < den
	if n+part > math.MaxInt64 {
		return 0, false
	}
	return n + part, true
}

// Unpack implements go-ucfg's Unpacker: a YAML number is bytes, a string is
// read by Parse.
func (s *Size) Unpack(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("size %d: negative: %w", x, ErrInvalid)
		}
		*s = Size(x)
	case uint64:
		if x > math.MaxInt64 {
			return fmt.Errorf("size %d: larger than %d bytes: %w", x, int64(math.MaxInt64), ErrInvalid)
		}
		*s = Size(x)
	case float64:
		if x < 0 || x != math.Trunc(x) || x >= math.MaxInt64 {
			return fmt.Errorf("size %v: not a whole number of bytes: %w", x, ErrInvalid)
		}
		*s = Size(x)
	case string:
		n, err := Parse(x)
		if err != nil {
			return err
		}
		*s = n
	default:
		return fmt.Errorf("size %v: a %T is not a size: %w", v, v, ErrInvalid)
	}
	return nil
}
