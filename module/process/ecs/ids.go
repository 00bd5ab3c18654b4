package ecs

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
)

// idLen is the length of an EntityID or event.id: 128 bits in unpadded
// base64url.
const idLen = 22

// EntityID returns process.entity_id for the process with pid that started
// startTicks clock ticks after boot (field 22 of /proc/PID/stat) on the host
// with hostID. The pair (pid, start time) names one process for the life of
// a boot even when pids are reused, and hostID keeps ids of different hosts
// apart, so every document about the process (fork, exec, end, existing, and
// its children's process.parent.entity_id) carries the same id.
//
// Start ticks restart at every boot (pid 1 always starts at about the same
// tick), so a caller that wants ids unique across reboots passes a hostID
// scoped to the boot, such as host.id + "/" + the kernel's boot_id
// (/proc/sys/kernel/random/boot_id).
//
// The id is the first 128 bits of SHA-256 over the length-prefixed inputs,
// in unpadded base64url (22 characters). It allocates only the string.
func EntityID(hostID string, pid int, startTicks uint64) string {
	var buf [128]byte
	b := appendLP(buf[:0], "entity")
	b = appendLP(b, hostID)
	b = binary.BigEndian.AppendUint64(b, uint64(pid))
	b = binary.BigEndian.AppendUint64(b, startTicks)
	return hashID(b)
}

// AssignID sets e.Event.ID, the document's event.id and Elasticsearch _id.
//
// The id is derived from the document itself — agent.ephemeral_id, agent.id,
// host.id, event.sequence, event.action, process.entity_id and @timestamp —
// so it is deterministic for a document: re-encoding or retrying the same
// event yields the same _id, and a create that already landed answers 409
// instead of duplicating it. It is unique because (ephemeral_id, sequence)
// never repeats: the ephemeral id is random per run and the sequence is
// monotonic within it; the process fields keep ids apart even when a caller
// leaves the sequence unset. Like EntityID it is 22 characters of base64url
// and AssignID allocates only that string.
func (e *Event) AssignID() {
	var buf [256]byte
	b := appendLP(buf[:0], "event")
	if a := e.Agent; a != nil {
		b = appendLP(b, a.EphemeralID)
		b = appendLP(b, a.ID)
	} else {
		b = appendLP(b, "")
		b = appendLP(b, "")
	}
	if h := e.Host; h != nil {
		b = appendLP(b, h.ID)
	} else {
		b = appendLP(b, "")
	}
	b = binary.BigEndian.AppendUint64(b, e.Event.Sequence)
	b = appendLP(b, e.Event.Action)
	b = appendLP(b, e.Process.EntityID)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Process.PID))
	var ts int64
	if !e.Timestamp.IsZero() {
		ts = e.Timestamp.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	e.Event.ID = hashID(b)
}

// appendLP appends s with its length in front, so that adjacent fields
// cannot run into each other ("ab","c" vs "a","bc").
func appendLP(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func hashID(b []byte) string {
	sum := sha256.Sum256(b)
	var out [idLen]byte
	base64.RawURLEncoding.Encode(out[:], sum[:16])
	return string(out[:])
}

// NewUUID returns a random (version 4) UUID in its canonical text form. It
// serves agent.ephemeral_id and the persistent agent.id.
func NewUUID() string {
	var u [16]byte
	// crypto/rand.Read never returns an error (it crashes the program
	// rather than return weak randomness).
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var out [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j] = hexDigits[c>>4]
		out[j+1] = hexDigits[c&0xf]
		j += 2
	}
	return string(out[:])
}

// validUUID reports whether s is a UUID in canonical text form
// (8-4-4-4-12 hex digits, either case).
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
