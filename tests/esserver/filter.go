package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// filter_path, as the reference's "Common options" page describes it: a
// comma-separated list of dotted paths; "*" matches any characters inside
// one field name, "**" any number of levels; a leading "-" excludes; arrays
// are transparent; objects and array elements that end up empty are
// removed. When nothing matches, the response is {}.

// jnode is an ordered JSON value used only for filtering responses.
type jnode struct {
	kind  byte // '{', '[', or 's' for a scalar
	keys  []string
	vals  []*jnode
	items []*jnode
	raw   json.RawMessage
}

func parseJNode(d *json.Decoder) (*jnode, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &jnode{kind: '{'}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, fmt.Errorf("decode response key: %w", err)
				}
				k, _ := kt.(string)
				v, err := parseJNode(d)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, v)
			}
			if _, err := d.Token(); err != nil {
				return nil, fmt.Errorf("decode response: %w", err)
			}
			return n, nil
		case '[':
			n := &jnode{kind: '['}
			for d.More() {
				v, err := parseJNode(d)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, v)
			}
			if _, err := d.Token(); err != nil {
				return nil, fmt.Errorf("decode response: %w", err)
			}
			return n, nil
		}
	}
	raw, err := json.Marshal(tok)
	if err != nil {
		return nil, fmt.Errorf("encode scalar: %w", err)
	}
	return &jnode{kind: 's', raw: raw}, nil
}

func (n *jnode) write(b *bytes.Buffer) {
	switch n.kind {
	case '{':
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			n.vals[i].write(b)
		}
		b.WriteByte('}')
	case '[':
		b.WriteByte('[')
		for i, v := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			v.write(b)
		}
		b.WriteByte(']')
	default:
		b.Write(n.raw)
	}
}

// fpattern is one filter_path expression split on dots.
type fpattern []string

func segMatch(seg, key string) bool {
	if seg == "*" {
		return true
	}
	return wildcardMatch(seg, key)
}

// advance returns the patterns that remain after descending into key, and
// whether one of them was fully matched (the whole subtree is selected).
func advance(pats []fpattern, key string) (next []fpattern, full bool) {
	for _, p := range pats {
		if len(p) == 0 {
			continue
		}
		if p[0] == "**" {
			// ** may match zero levels (try the rest here) or more (stay).
			next = append(next, p)
			rest := p[1:]
			if len(rest) == 0 {
				return nil, true
			}
			if segMatch(rest[0], key) {
				if len(rest) == 1 {
					return nil, true
				}
				next = append(next, rest[1:])
			}
			continue
		}
		if segMatch(p[0], key) {
			if len(p) == 1 {
				return nil, true
			}
			next = append(next, p[1:])
		}
	}
	return next, false
}

// include keeps the parts of n selected by pats; nil means nothing.
func include(n *jnode, pats []fpattern) *jnode {
	switch n.kind {
	case '{':
		out := &jnode{kind: '{'}
		for i, k := range n.keys {
			next, full := advance(pats, k)
			var v *jnode
			if full {
				v = n.vals[i]
			} else if len(next) > 0 {
				v = include(n.vals[i], next)
			}
			if v != nil {
				out.keys = append(out.keys, k)
				out.vals = append(out.vals, v)
			}
		}
		if len(out.keys) == 0 {
			return nil
		}
		return out
	case '[':
		out := &jnode{kind: '['}
		for _, it := range n.items {
			if v := include(it, pats); v != nil {
				out.items = append(out.items, v)
			}
		}
		if len(out.items) == 0 {
			return nil
		}
		return out
	}
	// A scalar reached with path segments left does not match.
	return nil
}

// exclude removes the parts of n selected by pats.
func exclude(n *jnode, pats []fpattern) *jnode {
	switch n.kind {
	case '{':
		out := &jnode{kind: '{'}
		for i, k := range n.keys {
			next, full := advance(pats, k)
			if full {
				continue
			}
			v := n.vals[i]
			if len(next) > 0 {
				v = exclude(v, next)
			}
			if v != nil {
				out.keys = append(out.keys, k)
				out.vals = append(out.vals, v)
			}
		}
		return out
	case '[':
		out := &jnode{kind: '['}
		for _, it := range n.items {
			if v := exclude(it, pats); v != nil {
				out.items = append(out.items, v)
			}
		}
		return out
	}
	return n
}

// filterPath applies a filter_path expression to a JSON response body.
func filterPath(body []byte, expr string) ([]byte, error) {
	var inc, exc []fpattern
	for _, p := range strings.Split(expr, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(p, "-"); ok {
			exc = append(exc, strings.Split(rest, "."))
			continue
		}
		inc = append(inc, strings.Split(p, "."))
	}
	if len(inc) == 0 && len(exc) == 0 {
		return body, nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	root, err := parseJNode(d)
	if err != nil {
		return nil, fmt.Errorf("filter_path %q: %w", expr, err)
	}
	if len(inc) > 0 {
		root = include(root, inc)
	}
	if root != nil && len(exc) > 0 {
		root = exclude(root, exc)
	}
	if root == nil {
		return []byte("{}"), nil
	}
	var b bytes.Buffer
	root.write(&b)
	return b.Bytes(), nil
}
