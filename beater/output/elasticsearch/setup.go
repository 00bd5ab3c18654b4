package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"go.uber.org/zap"
)

// admin sends the occasional management request (setup, test output) to
// the first host that answers. Not safe for concurrent use (one buffer).
type admin struct {
	nodes []*node
	cfg   Config
	buf   bytes.Buffer
}

func newAdmin(cfg *Config) (*admin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nodes, err := newNodes(cfg, nil)
	if err != nil {
		return nil, err
	}
	return &admin{nodes: nodes, cfg: *cfg}, nil
}

func (a *admin) close() {
	for _, n := range a.nodes {
		_ = n.client.Close(context.Background()) // idle connections only; nothing to report
	}
}

// request tries the hosts in order until one answers; only connection
// failures move on to the next host.
func (a *admin) request(ctx context.Context, method, path string, body []byte) (*node, response, error) {
	var errs []error
	for _, n := range a.nodes {
		rctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
		res, err := n.do(rctx, method, path, payload{data: body, contentType: "application/json"}, &a.buf)
		cancel()
		if err == nil {
			return n, res, nil
		}
		if ctx.Err() != nil {
			return nil, response{}, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		errs = append(errs, err)
	}
	return nil, response{}, fmt.Errorf("%s %s: %w: %w", method, path, ErrNoNodeAvailable, errors.Join(errs...))
}

// Setup installs the lifecycle policy, the ingest pipeline that sets
// event.ingested (IngestPipelineName) and the index template generated from
// fieldsYAML, which names that pipeline, as `spawnbeat setup` does. An
// existing policy, pipeline or template is kept unless its overwrite
// setting is true (setup.template.overwrite for the pipeline). It stops at
// the first failure and returns it.
func Setup(ctx context.Context, cfg Config, setup SetupConfig, fieldsYAML []byte, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("elasticsearch.setup")
	if err := setup.Validate(); err != nil {
		return err
	}
	a, err := newAdmin(&cfg)
	if err != nil {
		return err
	}
	defer a.close()
	if setup.ILM.Enabled {
		body, err := ILMPolicy(setup.ILM)
		if err != nil {
			return err
		}
		if err := a.install(ctx, log, "lifecycle policy", "/_ilm/policy/"+url.PathEscape(setup.ILM.PolicyName), body, setup.ILM.Overwrite); err != nil {
			return err
		}
	}
	if setup.Template.Enabled && finalPipeline(&setup) == IngestPipelineName {
		// Before the template: a data stream whose final pipeline is
		// missing refuses every document.
		body, err := IngestPipeline()
		if err != nil {
			return err
		}
		if err := a.install(ctx, log, "ingest pipeline", "/_ingest/pipeline/"+url.PathEscape(IngestPipelineName), body, setup.Template.Overwrite); err != nil {
			return err
		}
	}
	if setup.Template.Enabled {
		body, err := Template(fieldsYAML, setup)
		if err != nil {
			return err
		}
		if err := a.install(ctx, log, "index template", "/_index_template/"+url.PathEscape(setup.Template.Name), body, setup.Template.Overwrite); err != nil {
			return err
		}
	}
	return nil
}

// install PUTs body at path unless something exists there and overwrite
// is false.
func (a *admin) install(ctx context.Context, log *zap.Logger, what, path string, body []byte, overwrite bool) error {
	if !overwrite {
		n, res, err := a.request(ctx, http.MethodGet, path, nil)
		if err != nil {
			return fmt.Errorf("check %s: %w", what, err)
		}
		switch res.status {
		case http.StatusOK:
			log.Info("kept the existing "+what+" (overwrite is false)", zap.String("host", n.url), zap.String("path", path))
			return nil
		case http.StatusNotFound:
		default:
			return fmt.Errorf("check %s: %w", what, n.statusError("GET "+path, res))
		}
	}
	n, res, err := a.request(ctx, http.MethodPut, path, body)
	if err != nil {
		return fmt.Errorf("install %s: %w", what, err)
	}
	if res.status != http.StatusOK {
		return fmt.Errorf("install %s: %w", what, n.statusError("PUT "+path, res))
	}
	log.Info("installed "+what, zap.String("host", n.url), zap.String("path", path))
	return nil
}
