package ecs

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestEntityID(t *testing.T) {
	base := EntityID("host-a", 4242, 1000)
	tests := []struct {
		name   string
		host   string
		pid    int
		ticks  uint64
		sameAs bool // whether the id must equal base
	}{
		{"same inputs", "host-a", 4242, 1000, true},
		{"other host", "host-b", 4242, 1000, false},
		{"reused pid, later start", "host-a", 4242, 1001, false},
		{"other pid", "host-a", 4243, 1000, false},
		{"empty host", "", 4242, 1000, false},
		{"field boundaries do not collide", "host-", 4242, 1000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EntityID(tt.host, tt.pid, tt.ticks)
			checkID(t, got)
			if (got == base) != tt.sameAs {
				t.Errorf("EntityID(%q, %d, %d) = %q, base %q, want equal=%v", tt.host, tt.pid, tt.ticks, got, base, tt.sameAs)
			}
		})
	}
}

// checkID asserts the 22-character base64url form of 128 bits.
func checkID(t *testing.T, id string) {
	t.Helper()
	if len(id) != 22 {
		t.Fatalf("id %q has length %d, want 22", id, len(id))
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) != 16 {
		t.Fatalf("id %q is not 128 bits of base64url: %v", id, err)
	}
}

func TestAssignID(t *testing.T) {
	mk := func() *Event { return goldenEvents()["exec"] }
	base := mk()
	base.AssignID()
	tests := []struct {
		name   string
		change func(e *Event)
		same   bool
	}{
		{"same document", func(*Event) {}, true},
		{"re-encoding does not change it", func(e *Event) { _ = e.AppendJSON(nil) }, true},
		{"alert tagging does not change it", func(e *Event) { alert(e, pythonTTYRule()) }, true},
		{"other sequence", func(e *Event) { e.Event.Sequence++ }, false},
		{"other run", func(e *Event) { e.Agent.EphemeralID = "other" }, false},
		{"other agent", func(e *Event) { e.Agent.ID = "other" }, false},
		{"other host", func(e *Event) { e.Host.ID = "other" }, false},
		{"other action", func(e *Event) { e.Event.Action = ActionEnd }, false},
		{"other process", func(e *Event) { e.Process.EntityID = "other" }, false},
		{"other pid", func(e *Event) { e.Process.PID++ }, false},
		{"other time", func(e *Event) { e.Timestamp = e.Timestamp.Add(time.Nanosecond) }, false},
		{"no agent or host", func(e *Event) { e.Agent, e.Host = nil, nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mk()
			tt.change(e)
			e.AssignID()
			checkID(t, e.Event.ID)
			if (e.Event.ID == base.Event.ID) != tt.same {
				t.Errorf("id %q vs base %q, want equal=%v", e.Event.ID, base.Event.ID, tt.same)
			}
		})
	}
}

func TestIDAllocs(t *testing.T) {
	e := goldenEvents()["exec"]
	tests := []struct {
		name string
		fn   func()
	}{
		{"AssignID", e.AssignID},
		{"EntityID", func() { _ = EntityID(e.Host.ID, 4242, 12345) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.fn); got > 1 {
				t.Errorf("%s allocates %v times, want at most 1 (the string)", tt.name, got)
			}
		})
	}
}

func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		u := NewUUID()
		if !validUUID(u) {
			t.Fatalf("NewUUID() = %q, not a UUID", u)
		}
		if u[14] != '4' || !strings.ContainsRune("89ab", rune(u[19])) {
			t.Fatalf("NewUUID() = %q, not version 4 / RFC 4122 variant", u)
		}
		if u != strings.ToLower(u) {
			t.Fatalf("NewUUID() = %q, not lower case", u)
		}
		if seen[u] {
			t.Fatalf("NewUUID() repeated %q", u)
		}
		seen[u] = true
	}
}

func TestValidUUID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c10", true},
		{"6F1C5D6E-4A53-4C8E-9D1B-2F0E8A7B9C10", true},
		{"6f1c5d6e4a534c8e9d1b2f0e8a7b9c10", false},
		{"6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c1", false},
		{"6f1c5d6e-4a53-4c8e-9d1b-2f0e8a7b9c1g", false},
		{"6f1c5d6e-4a53-4c8e-9d1b_2f0e8a7b9c10", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := validUUID(tt.in); got != tt.want {
				t.Errorf("validUUID(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
