package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// ProbeID is the fixed _id of the document TestOutput writes. Elasticsearch
// has no dry run for _bulk, so the write check creates this one small
// document (event.action "test_output") in the data stream and creates it
// again: the second answer must be 409, which proves that retries cannot
// duplicate documents. It stays in the data stream until ILM deletes it.
const ProbeID = "spawnbeat-test-output-probe"

// TestOutput runs the checks of `spawnbeat test output` against every host
// and writes a readable report to w: connection (elapsed) and cluster
// version, credentials (GET /_security/_authenticate when any are set),
// the index template and the ingest pipeline it names (when
// setup.template.enabled), and a write of the
// probe document (see ProbeID). It returns an error wrapping ErrCheckFailed
// that names each host and failed step with Elasticsearch's reason.
func TestOutput(ctx context.Context, cfg Config, setup SetupConfig, w io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	nodes, err := newNodes(&cfg, nil)
	if err != nil {
		return err
	}
	t := &tester{cfg: &cfg, setup: &setup, w: w}
	var errs []error
	for _, n := range nodes {
		if err := t.host(ctx, n); err != nil {
			errs = append(errs, err)
		}
		_ = n.client.Close(context.Background()) // idle connections only
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrCheckFailed, errors.Join(errs...))
	}
	return nil
}

type tester struct {
	cfg   *Config
	setup *SetupConfig
	w     io.Writer
	a     admin
}

func (t *tester) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(t.w, format, args...) // a broken report writer must not hide the verdict
}

func (t *tester) do(ctx context.Context, n *node, method, path string, body payload) (response, time.Duration, error) {
	rctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	start := time.Now()
	res, err := n.do(rctx, method, path, body, &t.a.buf)
	return res, time.Since(start), err
}

// fail prints the verdict and builds the error for one step.
func (t *tester) fail(n *node, step string, err error) error {
	t.printf("ERROR %v\n", err)
	return fmt.Errorf("%s: %s: %w", n.url, step, err)
}

func (t *tester) host(ctx context.Context, n *node) error {
	t.printf("elasticsearch: %s...\n", n.url)

	t.printf("  connection... ")
	res, took, err := t.do(ctx, n, http.MethodGet, "/", payload{})
	if err != nil {
		return t.fail(n, "connection", err)
	}
	if res.status != http.StatusOK {
		return t.fail(n, "connection", n.statusError("GET /", res))
	}
	var info struct {
		ClusterName string `json:"cluster_name"`
		Version     struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	if err := json.Unmarshal(res.body, &info); err != nil {
		return t.fail(n, "connection", fmt.Errorf("decode GET / answer: %w", err))
	}
	t.printf("OK (%s)\n", took.Round(time.Millisecond))
	t.printf("  version: %s (cluster %s)\n", info.Version.Number, info.ClusterName)

	if t.cfg.hasCredentials() {
		t.printf("  auth... ")
		res, _, err := t.do(ctx, n, http.MethodGet, "/_security/_authenticate", payload{})
		if err != nil {
			return t.fail(n, "auth", err)
		}
		if res.status != http.StatusOK {
			return t.fail(n, "auth", n.statusError("authenticate", res))
		}
		var who struct {
			Username string `json:"username"`
			Type     string `json:"authentication_type"`
		}
		if err := json.Unmarshal(res.body, &who); err != nil {
			return t.fail(n, "auth", fmt.Errorf("decode _authenticate answer: %w", err))
		}
		t.printf("OK (%s, %s)\n", who.Username, who.Type)
	}

	if t.setup.Template.Enabled {
		t.printf("  index template %s... ", t.setup.Template.Name)
		res, _, err := t.do(ctx, n, http.MethodGet, "/_index_template/"+url.PathEscape(t.setup.Template.Name), payload{})
		if err != nil {
			return t.fail(n, "template", err)
		}
		switch res.status {
		case http.StatusOK:
			t.printf("OK\n")
		case http.StatusNotFound:
			return t.fail(n, "template", fmt.Errorf("index template %s is missing: run spawnbeat setup", t.setup.Template.Name))
		default:
			return t.fail(n, "template", n.statusError("get index template", res))
		}
		if name := finalPipeline(t.setup); name != "" && name != "_none" {
			t.printf("  ingest pipeline %s... ", name)
			res, _, err := t.do(ctx, n, http.MethodGet, "/_ingest/pipeline/"+url.PathEscape(name), payload{})
			if err != nil {
				return t.fail(n, "pipeline", err)
			}
			switch res.status {
			case http.StatusOK:
				t.printf("OK\n")
			case http.StatusNotFound:
				return t.fail(n, "pipeline", fmt.Errorf("ingest pipeline %s is missing (the data stream refuses every document without it): run spawnbeat setup", name))
			default:
				return t.fail(n, "pipeline", n.statusError("get ingest pipeline", res))
			}
		}
	}

	index := t.cfg.Index()
	t.printf("  write to %s... ", index)
	first, err := t.probe(ctx, n, index)
	if err != nil {
		return t.fail(n, "write", err)
	}
	if first != http.StatusCreated && first != http.StatusOK && first != http.StatusConflict {
		return t.fail(n, "write", fmt.Errorf("probe create answered %d", first))
	}
	second, err := t.probe(ctx, n, index)
	if err != nil {
		return t.fail(n, "write", err)
	}
	if second != http.StatusConflict {
		return t.fail(n, "write", fmt.Errorf("second create of probe %s answered %d, want 409: retries could duplicate documents", ProbeID, second))
	}
	t.printf("OK (create %d, repeated create 409)\n", first)
	return nil
}

// probe creates the probe document and returns the item status; item
// errors other than 409 come back as errors with Elasticsearch's reason.
func (t *tester) probe(ctx context.Context, n *node, index string) (int, error) {
	doc := map[string]any{
		"@timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"message":    "spawnbeat test output probe",
		"event":      map[string]any{"kind": "event", "action": "test_output", "dataset": "spawnbeat.process", "module": "spawnbeat", "id": ProbeID},
		"data_stream": map[string]any{
			"type": "logs", "dataset": "spawnbeat.process", "namespace": t.cfg.Namespace,
		},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return 0, fmt.Errorf("encode probe: %w", err)
	}
	enc := newBulkEncoder(t.cfg.CompressionLevel) // as the output sends its bulks
	if err := enc.AddCreate(index, ProbeID, body); err != nil {
		return 0, err
	}
	bulk, err := enc.Body()
	if err != nil {
		return 0, err
	}
	res, _, err := t.do(ctx, n, http.MethodPost, bulkPath, payload{data: bulk, contentType: ndjson, encoding: enc.ContentEncoding()})
	if err != nil {
		return 0, err
	}
	if res.status != http.StatusOK {
		return 0, n.statusError("bulk", res)
	}
	var br bulkResponse
	if err := br.decode(res.body); err != nil {
		return 0, err
	}
	if len(br.Items) != 1 {
		return 0, fmt.Errorf("bulk answer has %d items, want 1", len(br.Items))
	}
	it := br.Items[0].Create
	if it.Error != nil && it.Status != http.StatusConflict {
		return it.Status, &StatusError{Op: "bulk create " + index, Host: n.url, Status: it.Status, Type: it.Error.Type, Reason: it.Error.reasonWithCause()}
	}
	return it.Status, nil
}
