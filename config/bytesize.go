package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes that YAML may give as a number or with a unit:
// 65536, "64KiB", "8MiB", "1GB" (binary and decimal units, as Beats accepts).
type ByteSize int64

var units = []struct {
	suffix string
	factor int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000}, {"tb", 1000 * 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
}

// Unpack implements go-ucfg's Unpacker for numbers and strings.
func (b *ByteSize) Unpack(v any) error {
	switch v := v.(type) {
	case int64:
		*b = ByteSize(v)
	case uint64:
		*b = ByteSize(v)
	case float64:
		*b = ByteSize(v)
	case string:
		n, err := ParseByteSize(v)
		if err != nil {
			return err
		}
		*b = n
	default:
		return fmt.Errorf("%v is not a size", v)
	}
	return nil
}

// ParseByteSize parses "64KiB", "8 MiB", "1gb" or a plain number of bytes.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	factor := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, factor = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.factor
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 65536, 64KiB, 8MiB)", s)
	}
	return ByteSize(f * float64(factor)), nil
}
