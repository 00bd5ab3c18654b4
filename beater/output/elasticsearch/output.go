package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/pipeline"
)

// Output delivers batches to Elasticsearch with bulk creates. It
// implements pipeline.Output. Publish may be called from one goroutine at a
// time (as the pipeline does); Stats and Close are safe for concurrent use.
type Output struct {
	cfg     Config
	log     *zap.Logger
	index   string
	nodes   *nodePool
	stats   counters
	workers chan *worker // idle workers; the channel bounds concurrency to cfg.Worker
	closed  atomic.Bool
	limiter logLimiter
	clock   func() time.Time
}

var _ pipeline.Output = (*Output)(nil)

// New validates cfg and builds the output. It does not connect: the first
// Publish does, and failures there are retried, not fatal.
func New(cfg Config, log *zap.Logger) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	o := &Output{
		cfg:     cfg,
		log:     log.Named("elasticsearch"),
		index:   cfg.Index(),
		clock:   time.Now,
		limiter: logLimiter{every: max(cfg.Backoff.Max, 10*time.Second), last: map[ErrorKind]time.Time{}},
	}
	nodes, err := newNodes(&o.cfg, &o.stats.bytesSent)
	if err != nil {
		return nil, err
	}
	seed := uint64(time.Now().UnixNano())
	o.nodes = &nodePool{nodes: nodes, bo: newBackoff(cfg.Backoff.Init, cfg.Backoff.Max, seed)}
	o.workers = make(chan *worker, cfg.Worker)
	for i := 0; i < cfg.Worker; i++ {
		o.workers <- &worker{
			o:     o,
			bo:    newBackoff(cfg.Backoff.Init, cfg.Backoff.Max, seed+uint64(i)+1),
			enc:   newBulkEncoder(cfg.CompressionLevel),
			names: indexNames{def: o.index},
		}
	}
	return o, nil
}

// Stats returns a snapshot of the counters.
func (o *Output) Stats() Stats {
	s := o.stats.snapshot()
	s.Hosts = o.nodes.stats()
	return s
}

// Close stops further publishing and releases idle connections. It is safe
// to call more than once.
func (o *Output) Close() error {
	if o.closed.Swap(true) {
		return nil
	}
	for _, n := range o.nodes.nodes {
		if err := n.client.Close(context.Background()); err != nil {
			o.log.Debug("close client", zap.String("host", n.url), zap.Error(err))
		}
	}
	return nil
}

// Publish delivers batch in chunks of bulk_max_size, up to worker chunks at
// a time, and returns nil once every event is settled: created, already
// present (409), dead-lettered or dropped by policy, each counted. Transient
// failures are retried with backoff for as long as max_retries allows
// (forever by default). It returns ctx's error when ctx ends first; events
// of the batch may then have landed, and a later retry of them answers 409.
func (o *Output) Publish(ctx context.Context, batch []pipeline.Event) error {
	if o.closed.Load() {
		return ErrClosed
	}
	start := o.clock()
	size := o.cfg.BulkMaxSize
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	setErr := func(err error) { errOnce.Do(func() { first = err }) }
	for off := 0; off < len(batch); off += size {
		chunk := batch[off:min(off+size, len(batch))]
		var w *worker
		select {
		case w = <-o.workers:
		case <-ctx.Done():
			setErr(ctx.Err())
		}
		if w == nil {
			break
		}
		if o.cfg.Worker == 1 {
			err := w.deliver(ctx, chunk)
			o.workers <- w
			if err != nil {
				setErr(err)
				break
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { o.workers <- w }()
			if err := w.deliver(ctx, chunk); err != nil {
				setErr(err)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("publish %d events: %w", len(batch), first)
	}
	o.stats.batches.Add(1)
	o.stats.observePublish(o.clock().Sub(start))
	return nil
}

// item is one document in flight inside a worker.
type item struct {
	id      string
	body    []byte
	index   string
	sends   int  // requests that carried it
	dead    bool // a dead-letter document: refusal means drop
	settled bool
	origIdx string // for a dead-letter document, the index it was refused by
}

// worker owns the buffers of one in-flight chunk. Not safe for concurrent
// use: the Output's workers channel hands it to one goroutine at a time.
type worker struct {
	o       *Output
	bo      backoff
	enc     *bulkEncoder
	resBuf  bytes.Buffer
	res     bulkResponse
	items   []item
	pending []int // indexes into items not yet settled, in send order
	sent    []int // the items of the current request, in body order
	names   indexNames
}

// deliver settles every event of chunk or returns ctx's error.
func (w *worker) deliver(ctx context.Context, chunk []pipeline.Event) error {
	o := w.o
	w.items = w.items[:0]
	w.pending = w.pending[:0]
	for i := range chunk {
		w.items = append(w.items, item{id: chunk[i].ID, body: chunk[i].Body, index: w.names.For(chunk[i].Index)})
		w.pending = append(w.pending, i)
	}
	limit := len(w.pending) // shrinks when a request is too large or malformed (bisection)
	failures := 0           // consecutive attempts without progress, for the backoff
	for len(w.pending) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.closed.Load() {
			return ErrClosed // Close closed the clients: every request would fail
		}
		n, wait := o.nodes.pick(o.clock())
		if n == nil {
			// Counted, but LastError keeps the failure that took the
			// nodes down: that is the reason a person needs to see.
			o.stats.count(KindNoNode, 1)
			if err := sleepCtx(ctx, wait); err != nil {
				return err
			}
			continue
		}
		body, err := w.encode(min(limit, len(w.pending)))
		if err != nil {
			return err
		}
		if len(w.sent) == 0 {
			continue // the encoder refused every candidate and they were settled
		}
		outcome := w.send(ctx, n, body)
		if err := ctx.Err(); err != nil {
			return err
		}
		switch outcome.kind {
		case outcomeProgress:
			limit = min(2*limit, len(chunk)) // grow back after a bisection
			if outcome.retryItems == 0 {
				failures = 0
				break
			}
			// Items were throttled: wait before resending them, longer
			// while nothing at all gets through.
			if outcome.settled {
				failures = 0
			}
			if err := sleepCtx(ctx, w.bo.Wait(failures)); err != nil {
				return err
			}
			if !outcome.settled {
				failures++
			}
		case outcomeNoProgress:
			if err := sleepCtx(ctx, w.bo.Wait(failures)); err != nil {
				return err
			}
			failures++
		case outcomeNodeDown:
			// The pool already holds the node back; the next pick either
			// finds another node at once or waits for this one.
			failures++
		case outcomeSplit:
			limit = max(1, len(w.sent)/2)
		}
	}
	return nil
}

// encode builds a request from the first n pending items, filling w.sent.
// An item the encoder refuses goes to the non-indexable policy at once; as
// a dead-letter document (always valid JSON) it takes its place in the body.
func (w *worker) encode(n int) ([]byte, error) {
	w.enc.Reset()
	w.sent = w.sent[:0]
	for _, idx := range w.pending {
		if len(w.sent) == n {
			break
		}
		it := &w.items[idx]
		if err := w.enc.AddCreate(it.index, it.id, it.body); err != nil {
			w.nonIndexable(idx, 0, &esError{Type: "spawnbeat_encode_exception", Reason: err.Error()})
			if it.settled || w.enc.AddCreate(it.index, it.id, it.body) != nil {
				continue
			}
		}
		w.sent = append(w.sent, idx)
	}
	w.dropSettled()
	return w.enc.Body()
}

type outcomeKind uint8

const (
	outcomeProgress   outcomeKind = iota // the bulk was answered item by item
	outcomeNoProgress                    // whole request failed; retry after backoff
	outcomeNodeDown                      // connection failed; the node is marked down
	outcomeSplit                         // too large or malformed: send fewer items
)

type outcome struct {
	kind       outcomeKind
	retryItems int  // items answered 429/5xx
	settled    bool // at least one item was settled
}

// send performs one bulk request for w.sent and settles what the answer
// allows; unsettled items stay in w.pending.
func (w *worker) send(ctx context.Context, n *node, body []byte) outcome {
	o := w.o
	if !w.checkRetries() {
		return outcome{kind: outcomeProgress}
	}
	for _, idx := range w.sent {
		if w.items[idx].sends > 0 {
			o.stats.retried.Add(1)
		}
		w.items[idx].sends++
	}
	o.stats.bulkRequests.Add(1)
	o.stats.bytesRaw.Add(uint64(w.enc.Raw()))

	rctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	res, err := n.do(rctx, http.MethodPost, bulkPath, payload{data: body, contentType: ndjson, encoding: w.enc.ContentEncoding()}, &w.resBuf)
	cancel()
	now := o.clock()
	if err != nil {
		if ctx.Err() != nil {
			return outcome{kind: outcomeNoProgress}
		}
		kind := KindConnection
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			kind = KindTimeout
		}
		wait := o.nodes.markDown(n, now)
		msg := fmt.Sprintf("bulk request of %d items failed: %v; host held back %s", len(w.sent), err, wait.Round(time.Millisecond))
		o.stats.fail(kind, msg, now)
		w.warn(kind, "bulk request failed; retrying", zap.String("host", n.url), zap.Int("items", len(w.sent)),
			zap.Duration("host_retry_in", wait), zap.Error(err))
		return outcome{kind: outcomeNodeDown}
	}
	o.nodes.markUp(n)
	switch {
	case res.status == http.StatusOK:
		return w.settle(n, res, now)
	case res.status == http.StatusUnauthorized || res.status == http.StatusForbidden:
		se := n.statusError("bulk", res)
		o.stats.fail(KindAuth, se.Error(), now)
		// Not sampled: a credentials problem must be seen. The backoff
		// between attempts bounds it to one line per wait.
		o.log.Error("elasticsearch refused the credentials; events are held and retried",
			zap.String("host", n.url), zap.Int("status", res.status), zap.String("error.type", se.Type),
			zap.String("error.reason", se.Reason), zap.Int("items", len(w.sent)))
		return outcome{kind: outcomeNoProgress}
	case res.status == http.StatusTooManyRequests:
		o.stats.request429.Add(1)
		se := n.statusError("bulk", res)
		o.stats.fail(KindRequest429, se.Error(), now)
		w.warn(KindRequest429, "elasticsearch throttled a bulk request; retrying", zap.String("host", n.url))
		return outcome{kind: outcomeNoProgress}
	case res.status >= 500:
		o.stats.status5xx.Add(1)
		se := n.statusError("bulk", res)
		o.stats.fail(KindRequest5xx, se.Error(), now)
		w.warn(KindRequest5xx, "bulk request failed on the server; retrying", zap.String("host", n.url),
			zap.Int("status", res.status), zap.String("error.type", se.Type), zap.String("error.reason", se.Reason))
		return outcome{kind: outcomeNoProgress}
	case res.status == http.StatusRequestEntityTooLarge || res.status == http.StatusBadRequest:
		se := n.statusError("bulk", res)
		if len(w.sent) > 1 {
			// One bad or huge document spoils the whole request: halve
			// until it stands alone, then it goes to the policy.
			o.log.Debug("bulk request refused whole; splitting", zap.Int("status", res.status),
				zap.Int("items", len(w.sent)), zap.String("error.reason", se.Reason))
			return outcome{kind: outcomeSplit}
		}
		w.nonIndexable(w.sent[0], res.status, &esError{Type: se.Type, Reason: se.Reason})
		w.dropSettled()
		return outcome{kind: outcomeProgress}
	default:
		// 404, 405 and the like: a wrong path or proxy. Nothing about the
		// events is wrong, so they are kept and retried.
		se := n.statusError("bulk", res)
		o.stats.fail(KindRequest4xx, se.Error(), now)
		w.warn(KindRequest4xx, "bulk request refused; retrying", zap.String("host", n.url), zap.Int("status", res.status),
			zap.String("error.type", se.Type), zap.String("error.reason", se.Reason))
		return outcome{kind: outcomeNoProgress}
	}
}

// checkRetries drops the items of w.sent that used up max_retries and
// returns whether any remain to send.
func (w *worker) checkRetries() bool {
	if w.o.cfg.MaxRetries < 0 {
		return true
	}
	keep := w.sent[:0]
	for _, idx := range w.sent {
		it := &w.items[idx]
		if it.sends > w.o.cfg.MaxRetries {
			it.settled = true
			w.o.stats.dropped.Add(1)
			w.o.stats.count(KindRetriesExhausted, 1)
			w.warn(KindRetriesExhausted, "event dropped after max_retries", zap.String("event.id", it.id),
				zap.Int("max_retries", w.o.cfg.MaxRetries))
			continue
		}
		keep = append(keep, idx)
	}
	w.sent = keep
	if len(w.sent) == 0 {
		w.dropSettled()
		return false
	}
	return true
}

// settle classifies a 200 answer item by item.
func (w *worker) settle(n *node, res response, now time.Time) outcome {
	o := w.o
	if err := w.res.decode(res.body); err != nil || len(w.res.Items) != len(w.sent) {
		msg := fmt.Sprintf("bulk answer from %s unusable (%d items for %d sent): %v", n.url, len(w.res.Items), len(w.sent), err)
		o.stats.fail(KindDecode, msg, now)
		w.warn(KindDecode, "unusable bulk answer; retrying the request", zap.String("host", n.url), zap.Error(err),
			zap.Int("answer_items", len(w.res.Items)), zap.Int("sent", len(w.sent)))
		return outcome{kind: outcomeNoProgress}
	}
	var acked, dups, retry, failed uint64
	for i, idx := range w.sent {
		r := &w.res.Items[i].Create
		it := &w.items[idx]
		switch classifyItem(r.Status) {
		case classAcked, classDuplicate:
			it.settled = true
			switch {
			case it.dead:
				o.stats.deadLettered.Add(1)
			case r.Status == http.StatusConflict:
				dups++
			default:
				acked++
			}
		case classRetry:
			retry++
			if r.Status == http.StatusTooManyRequests {
				o.stats.item429.Add(1)
				o.stats.count(KindItem429, 1)
			} else {
				o.stats.status5xx.Add(1)
				o.stats.count(KindItem5xx, 1)
			}
		case classNonIndexable:
			failed++
			w.nonIndexable(idx, r.Status, r.Error)
		}
	}
	o.stats.acked.Add(acked)
	o.stats.duplicates.Add(dups)
	if retry == 0 && failed == 0 {
		o.stats.clearLastError()
	} else if retry > 0 {
		w.warn(KindItem429, "bulk items throttled or failed on the server; retrying them",
			zap.String("host", n.url), zap.Uint64("items", retry))
	}
	w.dropSettled()
	return outcome{kind: outcomeProgress, retryItems: int(retry), settled: retry < uint64(len(w.sent))}
}

// nonIndexable applies the non_indexable_policy to a refused item: drop
// it, or turn it into a dead-letter document that stays pending. A refused
// dead-letter document is dropped with its own counter. Logs above debug
// carry the error type and a reason stripped of document content; the
// body and the full reason go to debug only.
func (w *worker) nonIndexable(idx, status int, e *esError) {
	o := w.o
	it := &w.items[idx]
	if e == nil {
		e = &esError{}
	}
	o.stats.count(KindNonIndexable, 1)
	fields := []zap.Field{
		zap.String("event.id", it.id), zap.String("index", it.index), zap.Int("status", status),
		zap.String("error.type", e.Type), zap.String("error.reason", publicReason(e.Reason)),
	}
	if e.CausedBy != nil {
		fields = append(fields, zap.String("error.caused_by.type", e.CausedBy.Type))
	}
	if ce := o.log.Check(zap.DebugLevel, "refused event"); ce != nil {
		ce.Write(zap.String("event.id", it.id), zap.String("error", e.String()), zap.ByteString("body", it.body))
	}
	if it.dead || o.cfg.NonIndexablePolicy.DeadLetterIndex == "" {
		it.settled = true
		o.stats.dropped.Add(1)
		msg := "event refused by elasticsearch; dropped (non_indexable_policy: drop)"
		if it.dead {
			o.stats.deadLetterFailed.Add(1)
			msg = "dead-letter document refused by elasticsearch; dropped"
		}
		w.warn(KindNonIndexable, msg, fields...)
		return
	}
	body, err := deadLetterDoc(o.clock(), it, status, e.Type, e.reasonWithCause())
	if err != nil { // cannot happen: the document is built from strings
		it.settled = true
		o.stats.dropped.Add(1)
		o.stats.deadLetterFailed.Add(1)
		return
	}
	it.origIdx, it.index, it.body, it.dead, it.sends = it.index, o.cfg.NonIndexablePolicy.DeadLetterIndex, body, true, 0
	w.warn(KindNonIndexable, "event refused by elasticsearch; sending it to the dead-letter index",
		append(fields, zap.String("dead_letter_index", it.index))...)
}

// publicReason cuts the part of an Elasticsearch reason that quotes the
// document ("Preview of field's value: ..."), so that warn-level logs
// carry no event content.
func publicReason(r string) string {
	if i := strings.Index(r, "Preview of field's value"); i >= 0 {
		return strings.TrimRight(r[:i], ". ")
	}
	return r
}

// dropSettled removes settled items from w.pending and counts settled
// dead-letter documents.
func (w *worker) dropSettled() {
	keep := w.pending[:0]
	for _, idx := range w.pending {
		it := &w.items[idx]
		if it.settled {
			continue
		}
		keep = append(keep, idx)
	}
	w.pending = keep
}

// deadLetter is the document written to the dead-letter index.
type deadLetter struct {
	Timestamp string `json:"@timestamp"`
	Message   string `json:"message"` // the original document, verbatim
	Event     struct {
		ID string `json:"id"` // the original _id
	} `json:"event"`
	Error struct {
		Type   string `json:"type,omitempty"`
		Reason string `json:"reason,omitempty"`
		Status int    `json:"status"`
	} `json:"error"`
	Spawnbeat struct {
		DeadLetter struct {
			Index string `json:"index"` // where the document was meant to go
		} `json:"dead_letter"`
	} `json:"spawnbeat"`
}

func deadLetterDoc(now time.Time, it *item, status int, typ, reason string) ([]byte, error) {
	var d deadLetter
	d.Timestamp = now.UTC().Format(time.RFC3339Nano)
	d.Message = string(bytes.ToValidUTF8(it.body, []byte("\uFFFD")))
	d.Event.ID = it.id
	d.Error.Type, d.Error.Reason, d.Error.Status = typ, reason, status
	d.Spawnbeat.DeadLetter.Index = it.index
	b, err := json.Marshal(&d)
	if err != nil {
		return nil, fmt.Errorf("encode dead-letter document %q: %w", it.id, err)
	}
	return b, nil
}

func (e *esError) reasonWithCause() string {
	if e == nil {
		return ""
	}
	if e.CausedBy != nil {
		return e.Reason + " (caused by " + e.CausedBy.String() + ")"
	}
	return e.Reason
}

// warn logs at warn level at most once per limiter period per kind, so a
// throttling cluster does not flood the log; the counters keep the totals.
func (w *worker) warn(k ErrorKind, msg string, fields ...zap.Field) {
	if n, ok := w.o.limiter.allow(k, w.o.clock()); ok {
		if n > 0 {
			fields = append(fields, zap.Uint64("suppressed", n))
		}
		w.o.log.Warn(msg, fields...)
		return
	}
	if ce := w.o.log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(fields...)
	}
}

// logLimiter lets one message per kind through per period and counts the
// rest. Safe for concurrent use.
type logLimiter struct {
	every      time.Duration
	mu         sync.Mutex
	last       map[ErrorKind]time.Time
	suppressed [numErrorKinds]uint64
}

func (l *logLimiter) allow(k ErrorKind, now time.Time) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[k]; ok && now.Sub(t) < l.every {
		l.suppressed[k]++
		return 0, false
	}
	l.last[k] = now
	n := l.suppressed[k]
	l.suppressed[k] = 0
	return n, true
}
