package rules

import (
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
)

func TestLayoutQueryPosition(t *testing.T) {
	tests := []struct {
		name         string
		text         string
		qline, qcol  int
		line, col    int
		wantNotFound bool
	}{
		{
			name:  "literal multi-line, newline after the delimiter trimmed",
			text:  "[rule]\nname = 'x'\nquery = '''\nprocess where\n  a == 1\n'''\n",
			qline: 2, qcol: 3, line: 5, col: 3,
		},
		{
			name:  "basic multi-line",
			text:  "[rule]\nquery = \"\"\"\nprocess where\n  a == 1\"\"\"\n",
			qline: 1, qcol: 9, line: 3, col: 9,
		},
		{
			name:  "multi-line starting on the same line",
			text:  "[rule]\nquery = '''process where\n  a == 1'''\n",
			qline: 1, qcol: 1, line: 2, col: 12,
		},
		{
			name:  "single-line literal",
			text:  "[rule]\nquery='process where a'\n",
			qline: 1, qcol: 15, line: 2, col: 22,
		},
		{
			name:  "basic string with an escape before the position",
			text:  "[rule]\nquery = \"a == \\\"b\\\" and c\"\n",
			qline: 1, qcol: 13, line: 2, col: 24,
		},
		{
			name:  "position at the end of the query",
			text:  "[rule]\nquery = 'ab'\n",
			qline: 1, qcol: 3, line: 2, col: 12,
		},
		{
			name: "query keys of other tables and strings that look like tables are skipped",
			text: "[metadata]\nquery = 'not this'\n[rule]\nnote = '''\n[rule]\nquery = 'nor this'\n'''\n" +
				"tags = [\"a\", # comment ]\n  \"b\"]\nquery = '''\nx == 1'''\n[[transform.osquery]]\nquery = 'no'\n",
			qline: 1, qcol: 3, line: 11, col: 3,
		},
		{
			name:  "CRLF line ends",
			text:  "[rule]\r\nquery = \"\"\"\r\nprocess where\r\n  a == 1\r\n\"\"\"\r\n",
			qline: 2, qcol: 3, line: 4, col: 3,
		},
		{
			name:  "dotted key form",
			text:  "rule.query = 'abc'\n",
			qline: 1, qcol: 2, line: 1, col: 16,
		},
		{
			name:  "quotes before the closing delimiter belong to the value",
			text:  "[rule]\nquery = '''a == 'x'''''\n",
			qline: 1, qcol: 6, line: 2, col: 17,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f ruleFile
			if _, err := toml.Decode(tt.text, &f); err != nil {
				t.Fatalf("test input is not TOML: %v", err)
			}
			l := scanLayout(tt.text)
			line, col, ok := l.queryPosition(f.Rule.Query, tt.qline, tt.qcol)
			if !ok {
				t.Fatalf("query not located; scanner saw %q, toml decoded %q", l.query, f.Rule.Query)
			}
			if diff := cmp.Diff([2]int{tt.line, tt.col}, [2]int{line, col}); diff != "" {
				t.Errorf("line, col (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLayoutKeyPosition(t *testing.T) {
	text := "[metadata]\nmaturity = 'x'\n\n[rule]\n  rule_id = \"a\"\n[[rule.threat]]\nframework = 'y'\n"
	l := scanLayout(text)
	tests := []struct {
		key       string
		line, col int
	}{
		{"rule.rule_id", 5, 3},
		{"metadata.maturity", 2, 1},
		{"rule.name", 4, 1},                // missing: the [rule] header
		{"rule.threat.framework", 7, 1},    // inside an array of tables
		{"nothing.here", 1, 1},             // no such table
		{"rule.threat.tactic.id", 1, 1},    // table never written
		{"rule.threat.technique.id", 1, 1}, // likewise
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			line, col := l.keyPosition(tt.key)
			if diff := cmp.Diff([2]int{tt.line, tt.col}, [2]int{line, col}); diff != "" {
				t.Errorf("line, col (-want +got):\n%s", diff)
			}
		})
	}
}
