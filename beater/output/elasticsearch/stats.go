package elasticsearch

import (
	"sync"
	"sync/atomic"
	"time"
)

// ErrorKind names a class of delivery failure in Stats.Errors. A value
// type, safe to share.
type ErrorKind uint8

// Error kinds counted in Stats.Errors.
const (
	KindNone             ErrorKind = iota
	KindConnection                 // dial, reset, cut connection
	KindTimeout                    // request exceeded timeout
	KindAuth                       // whole request 401/403
	KindRequest429                 // whole request throttled
	KindRequest5xx                 // whole request 5xx
	KindRequest4xx                 // whole request refused for good (not 401/403/429)
	KindItem429                    // one item throttled
	KindItem5xx                    // one item failed on the server side
	KindNonIndexable               // one item refused for good (mapping etc.)
	KindDecode                     // unreadable bulk response
	KindRetriesExhausted           // max_retries reached
	KindNoNode                     // every host marked down
	numErrorKinds
)

// String returns the kind's name as used in Stats.Errors.
func (k ErrorKind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindConnection:
		return "connection"
	case KindTimeout:
		return "timeout"
	case KindAuth:
		return "auth"
	case KindRequest429:
		return "request_429"
	case KindRequest5xx:
		return "request_5xx"
	case KindRequest4xx:
		return "request_4xx"
	case KindItem429:
		return "item_429"
	case KindItem5xx:
		return "item_5xx"
	case KindNonIndexable:
		return "non_indexable"
	case KindDecode:
		return "decode"
	case KindRetriesExhausted:
		return "retries_exhausted"
	case KindNoNode:
		return "no_node"
	}
	return "unknown"
}

// Stats is a snapshot of the output's counters since New. Each call to
// Output.Stats returns a fresh copy the caller owns.
type Stats struct {
	Acked            uint64 // items created (2xx)
	Duplicates       uint64 // items answered 409: already delivered by an earlier attempt
	RetriedItems     uint64 // item sends beyond the first (per-item and whole-request retries)
	Dropped          uint64 // items dropped: refused under the drop policy, refused dead letters, retries exhausted
	DeadLettered     uint64 // items written to the dead-letter index
	DeadLetterFailed uint64 // dead-letter writes refused for good; the item was dropped
	Item429          uint64 // items answered 429
	Request429       uint64 // bulk requests answered 429
	Status5xx        uint64 // items and requests answered 5xx
	Batches          uint64 // Publish calls completed
	BulkRequests     uint64 // _bulk requests sent (including retries)
	BytesRaw         uint64 // bulk bodies before compression
	BytesSent        uint64 // request bodies on the wire (after gzip)

	PublishLast  time.Duration // duration of the last Publish
	PublishSum   time.Duration // total duration of all Publish calls
	PublishCount uint64
	PublishMax   time.Duration

	Errors map[string]uint64 // by ErrorKind.String()

	// LastError is the latest failure (empty when none since the last
	// success of a bulk request) and when it happened; auth failures stay
	// visible here while they last.
	LastError     string
	LastErrorKind string
	LastErrorTime time.Time

	Hosts []HostStats
}

// HostStats describes one configured host; part of a Stats snapshot.
type HostStats struct {
	URL      string
	Down     bool      // failed to connect and has not answered since
	Failures int       // consecutive failures
	RetryAt  time.Time // when a down host may be tried again
}

// counters holds the live atomics behind Stats. Safe for concurrent use.
type counters struct {
	acked, duplicates, retried, dropped, deadLettered, deadLetterFailed atomic.Uint64
	item429, request429, status5xx, batches, bulkRequests, bytesRaw     atomic.Uint64
	bytesSent                                                           atomic.Uint64
	publishLast, publishSum, publishCount, publishMax                   atomic.Int64
	errors                                                              [numErrorKinds]atomic.Uint64

	mu        sync.Mutex // guards the last error
	lastErr   string
	lastKind  ErrorKind
	lastErrAt time.Time
}

func (c *counters) fail(k ErrorKind, msg string, now time.Time) {
	if k < numErrorKinds {
		c.errors[k].Add(1)
	}
	c.mu.Lock()
	c.lastErr, c.lastKind, c.lastErrAt = msg, k, now
	c.mu.Unlock()
}

// count increments an error kind without touching LastError (per-item
// failures that are part of normal operation under load).
func (c *counters) count(k ErrorKind, n uint64) {
	if k < numErrorKinds {
		c.errors[k].Add(n)
	}
}

func (c *counters) clearLastError() {
	c.mu.Lock()
	c.lastErr, c.lastKind, c.lastErrAt = "", KindNone, time.Time{}
	c.mu.Unlock()
}

func (c *counters) observePublish(d time.Duration) {
	c.publishLast.Store(int64(d))
	c.publishSum.Add(int64(d))
	c.publishCount.Add(1)
	for {
		old := c.publishMax.Load()
		if int64(d) <= old || c.publishMax.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Acked:            c.acked.Load(),
		Duplicates:       c.duplicates.Load(),
		RetriedItems:     c.retried.Load(),
		Dropped:          c.dropped.Load(),
		DeadLettered:     c.deadLettered.Load(),
		DeadLetterFailed: c.deadLetterFailed.Load(),
		Item429:          c.item429.Load(),
		Request429:       c.request429.Load(),
		Status5xx:        c.status5xx.Load(),
		Batches:          c.batches.Load(),
		BulkRequests:     c.bulkRequests.Load(),
		BytesRaw:         c.bytesRaw.Load(),
		BytesSent:        c.bytesSent.Load(),
		PublishLast:      time.Duration(c.publishLast.Load()),
		PublishSum:       time.Duration(c.publishSum.Load()),
		PublishCount:     uint64(c.publishCount.Load()),
		PublishMax:       time.Duration(c.publishMax.Load()),
		Errors:           make(map[string]uint64),
	}
	for k := ErrorKind(0); k < numErrorKinds; k++ {
		if n := c.errors[k].Load(); n > 0 {
			s.Errors[k.String()] = n
		}
	}
	c.mu.Lock()
	s.LastError, s.LastErrorTime = c.lastErr, c.lastErrAt
	if c.lastErr != "" {
		s.LastErrorKind = c.lastKind.String()
	}
	c.mu.Unlock()
	return s
}
