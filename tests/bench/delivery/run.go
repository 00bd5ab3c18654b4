package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/beater/output/elasticsearch"
	"github.com/spawnbeat/spawnbeat/beater/pipeline"
	"github.com/spawnbeat/spawnbeat/module/process/ecs"
)

// namespace of the benchmark's data stream (one server per run, so it
// never holds another run's documents).
const namespace = "bench"

// errVerify means a run did not deliver every document exactly as sent.
var errVerify = errors.New("delivery not verified")

// combo is one benchmarked configuration.
type combo struct {
	Disk bool // disk queue (else memory)
	Gzip int  // compression_level
}

func (c combo) String() string {
	q := "memory"
	if c.Disk {
		q = "disk"
	}
	return fmt.Sprintf("%s queue, gzip %d", q, c.Gzip)
}

// result is one measured run.
type result struct {
	Events    int
	Wall      time.Duration // first Put to last acknowledged batch
	AgentCPU  time.Duration // this process's user+system CPU over Wall
	ServerCPU time.Duration // the child server's over Wall
	BytesRaw  uint64        // bulk bodies before gzip
	BytesSent uint64        // on the wire
}

func (r result) docsPerSec() float64 { return float64(r.Events) / r.Wall.Seconds() }
func (r result) per10k(d time.Duration) float64 {
	return float64(d.Milliseconds()) * 10000 / float64(r.Events)
}

// countingOutput wraps the real output and closes done once n events have
// been published, which ends the measurement without polling.
type countingOutput struct {
	*elasticsearch.Output
	n    uint64
	sent atomic.Uint64
	once sync.Once
	done chan struct{}
}

func (o *countingOutput) Publish(ctx context.Context, batch []pipeline.Event) error {
	if err := o.Output.Publish(ctx, batch); err != nil {
		return err
	}
	if o.sent.Add(uint64(len(batch))) >= o.n {
		o.once.Do(func() { close(o.done) })
	}
	return nil
}

func cpuNow() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// params are what every run shares. A plain value.
type params struct {
	serverBin string // esserver command
	tmp       string // parent of the runs' queue directories
	events    int    // documents per run
	full      bool   // full-size documents (see generator)
	log       *zap.Logger
}

// runOnce starts a fresh server, installs the template, then pushes
// p.events generated documents through the queue c selects and the output
// into it, and verifies that the server holds them all.
func runOnce(ctx context.Context, p params, c combo) (result, error) {
	n, log := p.events, p.log
	srv, err := startServer(p.serverBin)
	if err != nil {
		return result{}, err
	}
	defer func() { _ = srv.stop() }()

	esCfg := elasticsearch.DefaultConfig()
	esCfg.Hosts = []string{srv.url}
	esCfg.CompressionLevel = c.Gzip
	esCfg.Namespace = namespace
	if err := elasticsearch.Setup(ctx, esCfg, elasticsearch.DefaultSetupConfig(), ecs.FieldsYAML, log); err != nil {
		return result{}, fmt.Errorf("setup: %w", err)
	}
	es, err := elasticsearch.New(esCfg, log)
	if err != nil {
		return result{}, fmt.Errorf("new output: %w", err)
	}
	out := &countingOutput{Output: es, n: uint64(n), done: make(chan struct{})}

	dataDir, err := os.MkdirTemp(p.tmp, "run")
	if err != nil {
		return result{}, fmt.Errorf("queue dir: %w", err)
	}
	defer os.RemoveAll(dataDir)
	var qCfg pipeline.Config
	if c.Disk {
		d := pipeline.DefaultDiskConfig()
		d.Path = filepath.Join(dataDir, pipeline.DefaultDiskDirName)
		qCfg.Disk = &d
	} else {
		m := pipeline.DefaultMemConfig()
		qCfg.Mem = &m
	}
	q, err := pipeline.Open(qCfg, dataDir, log)
	if err != nil {
		return result{}, err
	}
	loop := pipeline.NewLoop(q, out, pipeline.LoopConfig{Flush: qCfg.FlushSettings(), BatchSize: esCfg.BulkMaxSize}, log)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	loopErr := make(chan error, 1)
	go func() { loopErr <- loop.Run(runCtx) }()

	gen := newGenerator(namespace, p.full)
	srvCPU0, err := srv.cpu()
	if err != nil {
		return result{}, err
	}
	cpu0, err := cpuNow()
	if err != nil {
		return result{}, err
	}
	index := elasticsearch.DataStreamPrefix + namespace // as the beater names each event's data stream
	start := time.Now()
	for range n {
		// A fresh body per event, as the beater does: the memory queue
		// keeps the slice until the event is acknowledged.
		body, id := gen.next(make([]byte, 0, 2048))
		if err := q.Put(ctx, pipeline.Event{ID: id, Index: index, Body: body}); err != nil {
			return result{}, fmt.Errorf("put: %w", err)
		}
	}
	select {
	case <-out.done:
	case err := <-loopErr:
		return result{}, fmt.Errorf("delivery loop ended early: %w", err)
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
	wall := time.Since(start)
	cpu1, err := cpuNow()
	if err != nil {
		return result{}, err
	}
	srvCPU1, err := srv.cpu()
	if err != nil {
		return result{}, err
	}

	cancel()
	if err := <-loopErr; err != nil {
		return result{}, err
	}
	shutCtx, shutCancel := context.WithTimeout(ctx, 30*time.Second)
	defer shutCancel()
	if err := loop.Drain(shutCtx); err != nil {
		return result{}, err
	}
	if err := q.Close(); err != nil {
		return result{}, err
	}
	st := es.Stats()
	_ = es.Close()

	r := result{Events: n, Wall: wall, AgentCPU: cpu1 - cpu0, ServerCPU: srvCPU1 - srvCPU0, BytesRaw: st.BytesRaw, BytesSent: st.BytesSent}
	count, err := serverCount(ctx, srv.url, elasticsearch.DataStreamPrefix+namespace)
	if err != nil {
		return r, err
	}
	if count != n || st.Acked != uint64(n) || st.Dropped != 0 || st.Duplicates != 0 {
		return r, fmt.Errorf("%s: sent %d, server holds %d, output acked %d, dropped %d, duplicates %d: %w",
			c, n, count, st.Acked, st.Dropped, st.Duplicates, errVerify)
	}
	return r, nil
}

// serverCount asks the server for the number of documents in index.
func serverCount(ctx context.Context, url, index string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/"+index+"/_count", nil)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", index, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", index, err)
	}
	defer res.Body.Close()
	var body struct {
		Count int `json:"count"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("count %s: decode: %w", index, err)
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("count %s: status %d", index, res.StatusCode)
	}
	return body.Count, nil
}

// encodeCPU measures the CPU of generating and encoding n documents alone,
// the share of the agent-side figure that is not delivery, and returns the
// mean document size.
func encodeCPU(n int, full bool) (time.Duration, int, error) {
	gen := newGenerator(namespace, full)
	cpu0, err := cpuNow()
	if err != nil {
		return 0, 0, err
	}
	total := 0
	for range n {
		body, _ := gen.next(make([]byte, 0, 2048))
		total += len(body)
	}
	cpu1, err := cpuNow()
	if err != nil {
		return 0, 0, err
	}
	return cpu1 - cpu0, total / n, nil
}
