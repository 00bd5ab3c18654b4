package ecs

import "testing"

func TestTTYSameAsParent(t *testing.T) {
	pts := func(minor int) TTY { return TTY{Major: 136, Minor: minor, Valid: true} }
	tests := []struct {
		name string
		p    Process
		want Tristate
	}{
		{"same pty", Process{Info: Info{TTY: pts(1)}, Parent: Info{PID: 9, TTY: pts(1), Interactive: True}}, True},
		{"another pty", Process{Info: Info{TTY: pts(1)}, Parent: Info{PID: 9, TTY: pts(0), Interactive: True}}, False},
		{"same minor, another major", Process{Info: Info{TTY: pts(1)}, Parent: Info{PID: 9, TTY: TTY{Major: 4, Minor: 1, Valid: true}, Interactive: True}}, False},
		{"parent has none", Process{Info: Info{TTY: pts(1)}, Parent: Info{PID: 9, Interactive: False}}, False},
		{"parent's image never read", Process{Info: Info{TTY: pts(1)}, Parent: Info{PID: 9}}, Unknown},
		{"no parent", Process{Info: Info{TTY: pts(1)}}, Unknown},
		{"process has no tty", Process{Info: Info{Interactive: False}, Parent: Info{PID: 9, TTY: pts(1), Interactive: True}}, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.TTYSameAsParent(); got != tt.want {
				t.Errorf("TTYSameAsParent() = %v, want %v", got, tt.want)
			}
		})
	}
}
