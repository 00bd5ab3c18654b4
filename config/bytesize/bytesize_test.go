package bytesize

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/elastic/go-ucfg"
	"github.com/elastic/go-ucfg/yaml"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Size
	}{
		// A bare number is bytes.
		{"0", 0},
		{"65536", 65536},
		{" 1024 ", 1024},
		{"10B", 10},
		{"10 b", 10},
		// Powers of 1,000, with or without the B, as go-humanize reads them.
		{"2k", 2000},
		{"2kb", 2000},
		{"2 KB", 2000},
		{"8m", 8_000_000},
		{"16M", 16_000_000},
		{"8MB", 8_000_000},
		{"1GB", 1_000_000_000},
		{"1g", 1_000_000_000},
		{"3T", 3_000_000_000_000},
		{"1pb", 1_000_000_000_000_000},
		{"1EB", 1_000_000_000_000_000_000},
		// Powers of 1,024.
		{"2ki", 2048},
		{"64KiB", 64 << 10},
		{"64kib", 64 << 10},
		{"8 MiB", 8 << 20},
		{"8mi", 8 << 20},
		{" 2 GiB ", 2 << 30},
		{"1GiB", 1 << 30},
		{"2gi", 2 << 30},
		{"1TiB", 1 << 40},
		{"1pib", 1 << 50},
		{"7EiB", 7 << 60},
		// Fractions are cut to whole bytes, computed exactly.
		{"1.5KiB", 1536},
		{"1.5 GB", 1_500_000_000},
		{"4.35MB", 4_350_000},
		{".5k", 500},
		{"1.", 1},
		{"1.5", 1},
		{"0.0001KiB", 0},
		{"1.00000000000000000000001GB", 1_000_000_000},
		{"9223372036854775807", math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"", "MiB", ".", "lots", "12 parsecs", "1.2.3MB", "-5", "+5", "1e6", "1,024", "5 K B", "64 KiBs",
		"9223372036854775808", "8EiB", "99999999999TiB", "18446744073709551616", "1" + string(make([]byte, 30)),
	} {
		t.Run(in, func(t *testing.T) {
			got, err := Parse(in)
			if err == nil {
				t.Fatalf("Parse(%q) = %d, want an error", in, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", in, err)
			}
		})
	}
}

// TestUnpack reads sizes the way the config loader does, through go-ucfg.
func TestUnpack(t *testing.T) {
	tests := []struct {
		yaml    string
		want    Size
		wantErr bool
	}{
		{yaml: "size: 1048576", want: 1 << 20},
		{yaml: "size: 16MiB", want: 16 << 20},
		{yaml: "size: 16m", want: 16_000_000},
		{yaml: "size: '2048'", want: 2048},
		{yaml: "size: 1048576.0", want: 1 << 20},
		{yaml: "size: -1", wantErr: true},
		{yaml: "size: 1.5", wantErr: true},
		{yaml: "size: 16 parsecs", wantErr: true},
		{yaml: "size: [1, 2]", wantErr: true},
		{yaml: "size: true", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			raw, err := yaml.NewConfig([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Size Size `config:"size"`
			}
			err = raw.Unpack(&got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unpack(%s) = %d, %v; want error %v", tt.yaml, got.Size, err, tt.wantErr)
			}
			if err == nil && got.Size != tt.want {
				t.Errorf("Unpack(%s) = %d, want %d", tt.yaml, got.Size, tt.want)
			}
		})
	}
	// go-ucfg names the key in the error.
	raw, _ := yaml.NewConfig([]byte("queue.disk.max_size: 1 parsec"), ucfg.PathSep("."))
	var cfg struct {
		Queue struct {
			Disk struct {
				MaxSize Size `config:"max_size"`
			} `config:"disk"`
		} `config:"queue"`
	}
	err := raw.Unpack(&cfg, ucfg.PathSep("."))
	if err == nil || !strings.Contains(err.Error(), "queue.disk.max_size") || !strings.Contains(err.Error(), `unknown unit "parsec"`) {
		t.Errorf("Unpack of a bad size = %v, want an error naming queue.disk.max_size and the unit", err)
	}
}

// FuzzParse checks that any text either parses or fails with ErrInvalid,
// and that a parsed size written as a plain number parses back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1024", "64MiB", "1.5 GB", "8m", "", "x", "9999999999999TiB", "-1", ".5k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d, negative", s, n)
		}
		if again, err := Parse(strconv.FormatInt(int64(n), 10)); err != nil || again != n {
			t.Fatalf("Parse(%q) = %d, which does not parse back: %d, %v", s, n, again, err)
		}
	})
}
