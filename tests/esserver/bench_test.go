package esserver

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
)

// ecsDoc is a process-start document of realistic size (~900 bytes).
func ecsDoc(i int) string {
	return fmt.Sprintf(`{"@timestamp":"2026-11-27T06:00:00.%06dZ","event":{"kind":"event","category":["process"],"type":["start"],"action":"exec","dataset":"spawnbeat.process","module":"spawnbeat","id":"ev-%d","sequence":%d},"ecs":{"version":"8.11.0"},"host":{"name":"build-01","hostname":"build-01","architecture":"x86_64","ip":["10.0.0.5","fe80::1"],"os":{"type":"linux","family":"debian","name":"Debian GNU/Linux","kernel":"6.12.0"}},"agent":{"type":"spawnbeat","version":"0.1.0","id":"agent-1"},"process":{"pid":%d,"entity_id":"e-%d","name":"bash","executable":"/usr/bin/bash","args":["/bin/bash","-c","echo hello world"],"args_count":3,"command_line":"/bin/bash -c echo hello world","working_directory":"/root","interactive":false,"user":{"id":"0","name":"root"},"parent":{"pid":1,"name":"python3.11","executable":"/usr/bin/python3.11","args":["python3","-c","import pty; pty.spawn('/bin/bash')"],"args_count":3}},"user":{"id":"0","name":"root"},"data_stream":{"type":"logs","dataset":"spawnbeat.process","namespace":"default"}}`,
		i%1000000, i, i, i, i)
}

func bulkOf(prefix string, from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "{\"create\":{\"_index\":%q,\"_id\":\"%s%d\"}}\n%s\n", ds, prefix, i, ecsDoc(i))
	}
	return b.String()
}

// BenchmarkBulk sends 1,000-document bulk requests through the real client;
// final_pipeline runs spawnbeat's ingest pipeline (a set of
// event.ingested) on every document, as the data stream does once setup
// installed it.
func BenchmarkBulk(b *testing.B) {
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) { benchBulk(b, gz, false) })
	}
	b.Run("gzip=false/final_pipeline", func(b *testing.B) { benchBulk(b, false, true) })
}

func benchBulk(b *testing.B, gz, pipeline bool) {
	s := start(b, Options{Logf: func(string, ...any) {}})
	es := client(b, s, func(c *elasticsearch.Config) { c.CompressRequestBody = gz })
	tpl := logsTemplate
	if pipeline {
		if st, out := do(b, es, "PUT", "/_ingest/pipeline/stamp",
			`{"processors":[{"set":{"field":"event.ingested","value":"{{{_ingest.timestamp}}}"}}]}`); st != 200 {
			b.Fatalf("PUT pipeline: %d %s", st, out)
		}
		tpl = strings.Replace(tpl, `"index.lifecycle.name":"spawnbeat"`, `"index.lifecycle.name":"spawnbeat","index.final_pipeline":"stamp"`, 1)
	}
	putTemplate(b, es, "spawnbeat", tpl)
	bodies := make([]string, 8)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		if bodies[i%8] == "" || i >= 8 {
			bodies[i%8] = bulkOf("b", i*1000, 1000)
		}
		b.StartTimer()
		res, err := es.Bulk(strings.NewReader(bodies[i%8]))
		if err != nil {
			b.Fatalf("Bulk: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
	if pipeline && s.Stats().Ingested != s.Stats().Items {
		b.Fatalf("%d of %d documents went through the pipeline", s.Stats().Ingested, s.Stats().Items)
	}
	b.ReportMetric(float64(s.Stats().Items)/b.Elapsed().Seconds(), "docs/s")
}

// TestHundredThousandDocuments checks that 100,000 stored documents cost
// little more than their JSON.
func TestHundredThousandDocuments(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 documents")
	}
	s := start(t, Options{})
	es := client(t, s, func(c *elasticsearch.Config) { c.CompressRequestBody = true })
	putTemplate(t, es, "spawnbeat", logsTemplate)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const total, per = 100_000, 5_000
	srcBytes := 0
	for from := 0; from < total; from += per {
		body := bulkOf("m", from, per)
		srcBytes += len(body)
		status, res, raw := bulk(t, es, body)
		if status != 200 || res.Errors {
			t.Fatalf("bulk at %d: %d %.300s", from, status, raw)
		}
	}
	if got := s.Count(ds); got != total {
		t.Fatalf("Count = %d, want %d", got, total)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew %d MiB for %d documents (%d MiB of bulk bodies), %d bytes/doc",
		grown>>20, total, srcBytes>>20, grown/total)
	// Sources are kept as raw bytes: the heap should hold about the
	// source size plus map and struct overhead, far below decoded maps.
	if limit := int64(srcBytes) * 2; grown > limit {
		t.Errorf("heap grew %d bytes, want at most %d (twice the bulk bodies)", grown, limit)
	}
}
