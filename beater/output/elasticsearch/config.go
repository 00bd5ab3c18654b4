package elasticsearch

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/elastic/go-ucfg"

	"github.com/spawnbeat/spawnbeat/beater/endpoint"
	"github.com/spawnbeat/spawnbeat/beater/tlsconfig"
)

// Defaults of the output.elasticsearch settings.
const (
	DefaultBulkMaxSize           = 1600
	DefaultWorker                = 1
	DefaultTimeout               = 90 * time.Second
	DefaultBackoffInit           = time.Second
	DefaultBackoffMax            = 60 * time.Second
	DefaultIdleConnectionTimeout = 3 * time.Second // as libbeat's output.elasticsearch
	DefaultNamespace             = "default"
	DefaultDeadLetterIndex       = "spawnbeat-dlq"
	DefaultPort                  = 9200

	// DataStreamPrefix is the data stream name without its namespace.
	DataStreamPrefix = "logs-spawnbeat.process-"
)

// Config is the output.elasticsearch section. Build it with DefaultConfig
// and unpack the user's settings on top (go-ucfg); Unpack runs Validate.
// A Config is a plain value: not safe for concurrent mutation, safe to read
// from several goroutines once built.
type Config struct {
	Hosts    []string          `config:"hosts,replace"`
	Protocol string            `config:"protocol"` // "http" or "https" for hosts written without a scheme
	Path     string            `config:"path"`     // prefix for hosts written without a path
	Headers  map[string]string `config:"headers"`

	APIKey   string `config:"api_key"` // "id:key" or its base64 form
	Username string `config:"username"`
	Password string `config:"password"`

	SSL      tlsconfig.Settings `config:"ssl"`
	ProxyURL string             `config:"proxy_url"`

	CompressionLevel      int           `config:"compression_level"` // 0 off, 1–9 gzip
	BulkMaxSize           int           `config:"bulk_max_size"`
	Worker                int           `config:"worker"`
	Timeout               time.Duration `config:"timeout"`
	Backoff               BackoffConfig `config:"backoff"`
	IdleConnectionTimeout time.Duration `config:"idle_connection_timeout"`

	// MaxRetries bounds the attempts for transient failures of one item.
	// -1 (the default) retries forever: the pipeline's contract is
	// at-least-once and an event must not be lost because Elasticsearch was
	// away for a while. With a bound, an item that exhausts it is dropped
	// and counted (Stats.Dropped, error kind "retries_exhausted").
	MaxRetries int `config:"max_retries"`

	// Namespace is the default data_stream.namespace. Each event goes to
	// the data stream it names (pipeline.Event.Index, made from its
	// document's data_stream.namespace where the document is made), or to
	// this namespace's data stream when it names none (the template maps the
	// field as constant_keyword, so a document must match its stream).
	Namespace string `config:"namespace"`

	NonIndexablePolicy NonIndexablePolicy `config:"non_indexable_policy"`
}

// BackoffConfig is the backoff section: waits grow exponentially from Init
// to Max, each drawn with full jitter. A plain value, like Config.
type BackoffConfig struct {
	Init time.Duration `config:"init"`
	Max  time.Duration `config:"max"`
}

// NonIndexablePolicy says what happens to documents Elasticsearch refuses
// for good (a 4xx other than 409 and 429, such as a mapping conflict): drop
// them with a counter (the default), or write them to a dead-letter index.
// It unpacks from {drop: {}} or {dead_letter_index: {index: NAME}}. A plain
// value, like Config.
type NonIndexablePolicy struct {
	// DeadLetterIndex is empty for the drop policy.
	DeadLetterIndex string
}

// Unpack implements ucfg.ConfigUnpacker.
func (p *NonIndexablePolicy) Unpack(c *ucfg.Config) error {
	fields := c.GetFields()
	if len(fields) != 1 {
		return fmt.Errorf("non_indexable_policy: want exactly one of drop, dead_letter_index, got %v: %w", fields, ErrInvalidConfig)
	}
	switch fields[0] {
	case "drop":
		p.DeadLetterIndex = ""
		return nil
	case "dead_letter_index":
		child, err := c.Child("dead_letter_index", -1)
		if err != nil {
			return fmt.Errorf("non_indexable_policy.dead_letter_index: %w", err)
		}
		dl := struct {
			Index string `config:"index"`
		}{Index: DefaultDeadLetterIndex}
		if err := child.Unpack(&dl); err != nil {
			return fmt.Errorf("non_indexable_policy.dead_letter_index: %w", err)
		}
		p.DeadLetterIndex = dl.Index
		if p.DeadLetterIndex == "" {
			return fmt.Errorf("non_indexable_policy.dead_letter_index.index: must not be empty: %w", ErrInvalidConfig)
		}
		return nil
	default:
		return fmt.Errorf("non_indexable_policy: unknown policy %q (want drop or dead_letter_index): %w", fields[0], ErrInvalidConfig)
	}
}

// DefaultConfig returns the defaults: localhost:9200, bulk_max_size 1600,
// one worker, 90s timeout, backoff 1s..60s, retries forever, drop policy.
// DefaultCompressionLevel is compression_level's default: gzip level 1.
const DefaultCompressionLevel = 1

func DefaultConfig() Config {
	return Config{
		Hosts:                 []string{"localhost:9200"},
		Protocol:              "",
		BulkMaxSize:           DefaultBulkMaxSize,
		Worker:                DefaultWorker,
		Timeout:               DefaultTimeout,
		Backoff:               BackoffConfig{Init: DefaultBackoffInit, Max: DefaultBackoffMax},
		IdleConnectionTimeout: DefaultIdleConnectionTimeout,
		MaxRetries:            -1,
		Namespace:             DefaultNamespace,
		// gzip at its fastest, as Beats' Elasticsearch output does by
		// default: bulk bodies of ECS documents shrink some tenfold for
		// about 1.4x the agent's CPU per document (see docs/performance.md).
		CompressionLevel: DefaultCompressionLevel,
		SSL:              tlsconfig.Default(),
	}
}

// Validate reports every problem of the configuration at once, each with
// its key name, joined into one error that wraps ErrInvalidConfig.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if len(c.Hosts) == 0 {
		bad("hosts", "at least one host is required")
	}
	if c.Protocol != "" && c.Protocol != "http" && c.Protocol != "https" {
		bad("protocol", "must be http or https, got %q", c.Protocol)
	}
	for i, h := range c.Hosts {
		if _, err := c.hostURL(h); err != nil {
			bad(fmt.Sprintf("hosts.%d", i), "%v", err)
		}
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		bad("api_key", "cannot be combined with username/password")
	}
	if c.Password != "" && c.Username == "" {
		bad("password", "set without username")
	}
	if c.ProxyURL != "" {
		if u, err := url.Parse(c.ProxyURL); err != nil || u.Host == "" {
			bad("proxy_url", "not a URL with a host: %q", endpoint.Redact(c.ProxyURL))
		}
	}
	if c.CompressionLevel < 0 || c.CompressionLevel > 9 {
		bad("compression_level", "must be 0 (off) to 9, got %d", c.CompressionLevel)
	}
	if c.BulkMaxSize <= 0 {
		bad("bulk_max_size", "must be > 0, got %d", c.BulkMaxSize)
	}
	if c.Worker <= 0 {
		bad("worker", "must be > 0, got %d", c.Worker)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be > 0, got %s", c.Timeout)
	}
	if c.Backoff.Init <= 0 {
		bad("backoff.init", "must be > 0, got %s", c.Backoff.Init)
	}
	if c.Backoff.Max < c.Backoff.Init {
		bad("backoff.max", "must be >= backoff.init (%s), got %s", c.Backoff.Init, c.Backoff.Max)
	}
	if c.IdleConnectionTimeout < 0 {
		bad("idle_connection_timeout", "must be >= 0, got %s", c.IdleConnectionTimeout)
	}
	if c.MaxRetries < -1 {
		bad("max_retries", "must be -1 (forever) or >= 0, got %d", c.MaxRetries)
	}
	if err := validNamespace(c.Namespace); err != nil {
		bad("namespace", "%v", err)
	}
	errs = append(errs, c.SSL.Problems()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("output.elasticsearch: %w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// validNamespace applies Elasticsearch's data stream naming rules to the
// namespace part: lowercase, no spaces or \/*?"<>|,#:-, at most 100 bytes.
func validNamespace(ns string) error {
	if ns == "" {
		return errors.New("must not be empty")
	}
	if len(ns) > 100 {
		return fmt.Errorf("longer than 100 bytes: %d", len(ns))
	}
	if strings.ContainsAny(ns, "\\/*?\"<>| ,#:-") {
		return fmt.Errorf("%q contains one of \\/*?\"<>| ,#:-", ns)
	}
	if strings.ToLower(ns) != ns {
		return fmt.Errorf("%q must be lowercase", ns)
	}
	return nil
}

// Index returns the data stream the output writes to.
func (c *Config) Index() string { return DataStreamPrefix + c.Namespace }

// HostURLs returns the hosts as full URLs (scheme, host, port, path).
func (c *Config) HostURLs() ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(c.Hosts))
	for _, h := range c.Hosts {
		u, err := c.hostURL(h)
		if err != nil {
			return nil, fmt.Errorf("parse host %q: %w", endpoint.Redact(h), err)
		}
		out = append(out, u)
	}
	return out, nil
}

// hostURL turns "host", "host:port" or "scheme://host:port/path" into a URL,
// as libbeat does: protocol and path apply where the host leaves them out,
// https is the default scheme when TLS is configured, 9200 the default port.
func (c *Config) hostURL(h string) (*url.URL, error) {
	return endpoint.URL(h, endpoint.Defaults{Scheme: endpoint.Scheme(c.Protocol, c.SSL.Wanted()), Port: DefaultPort, Path: c.Path})
}

// encodedAPIKey returns the api_key in the base64 form of the
// "Authorization: ApiKey" header: "id:key" is encoded, anything else is
// taken as already encoded.
func (c *Config) encodedAPIKey() string {
	if c.APIKey == "" {
		return ""
	}
	if strings.Contains(c.APIKey, ":") {
		return base64.StdEncoding.EncodeToString([]byte(c.APIKey))
	}
	return c.APIKey
}

// hasCredentials says whether requests carry authentication.
func (c *Config) hasCredentials() bool { return c.APIKey != "" || c.Username != "" }
