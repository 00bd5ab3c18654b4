package kibana

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/elastic/go-ucfg"

	"github.com/spawnbeat/spawnbeat/beater/endpoint"
	"github.com/spawnbeat/spawnbeat/beater/tlsconfig"
	"github.com/spawnbeat/spawnbeat/config"
)

// Defaults of setup.kibana.*, as libbeat has them.
const (
	DefaultHost    = "localhost:5601"
	DefaultPort    = 5601
	DefaultTimeout = 90 * time.Second
)

// Config is setup.kibana: where Kibana is and how to talk to it. Build it
// with Unpack, or with DefaultConfig and the user's settings unpacked on top
// (go-ucfg runs Validate). A plain value: not safe for concurrent mutation, safe to read
// from several goroutines.
type Config struct {
	// Host is "host", "host:port" or a URL with scheme and path.
	Host     string `config:"host"`
	Protocol string `config:"protocol"` // "http" or "https" for a host written without a scheme
	Path     string `config:"path"`     // base path (Kibana's server.basePath) for a host written without one
	// SpaceID is the Kibana space the assets go to; empty is the default
	// space.
	SpaceID string `config:"space.id"`

	Username string `config:"username"`
	Password string `config:"password"`
	APIKey   string `config:"api_key"` // "id:key" or its base64 form
	// Headers are sent with every request (a proxy's own header, say).
	Headers map[string]string `config:"headers"`

	SSL     tlsconfig.Settings `config:"ssl"`
	Timeout time.Duration      `config:"timeout"` // for each request
}

// DashboardsConfig is setup.dashboards: what Kibana gets and when.
type DashboardsConfig struct {
	// Enabled loads the assets when the agent starts, before it captures
	// anything; a failure stops the agent from starting, as in Beats.
	Enabled bool `config:"enabled"`
	// Directory replaces the embedded assets with a folder laid out as
	// _meta/kibana is; empty means the embedded ones.
	Directory string `config:"directory"`
}

// DefaultConfig returns the defaults: localhost:5601, the default space, no
// credentials, full TLS verification, a 90 s timeout.
func DefaultConfig() Config {
	return Config{Host: DefaultHost, Timeout: DefaultTimeout, SSL: tlsconfig.Default()}
}

// Unpack reads setup.kibana over DefaultConfig and validates it.
func Unpack(raw *ucfg.Config) (Config, error) { return config.Unpack(raw, DefaultConfig()) }

// UnpackDashboards reads setup.dashboards.
func UnpackDashboards(raw *ucfg.Config) (DashboardsConfig, error) {
	return config.Unpack(raw, DashboardsConfig{})
}

// spaceID is Kibana's rule for a space identifier: lowercase letters,
// digits, "_" and "-".
var spaceID = regexp.MustCompile(`^[a-z0-9_-]+$`)

// Validate reports every problem at once, one a line, each a
// *config.KeyError naming its key below setup.kibana.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &config.KeyError{Key: key, Err: fmt.Errorf(format, args...)})
	}
	if c.Protocol != "" && c.Protocol != "http" && c.Protocol != "https" {
		bad("protocol", "must be http or https, got %q", c.Protocol)
	}
	if _, err := c.BaseURL(); err != nil {
		bad("host", "%v", err)
	}
	if c.SpaceID != "" && !spaceID.MatchString(c.SpaceID) {
		bad("space.id", "%q is not a Kibana space identifier (lowercase letters, digits, _ and -)", c.SpaceID)
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		bad("api_key", "cannot be combined with username/password")
	}
	if c.Password != "" && c.Username == "" {
		bad("password", "set without username")
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be > 0, got %s", c.Timeout)
	}
	errs = append(errs, c.SSL.Problems()...)
	return errors.Join(errs...)
}

// HasCredentials says whether requests carry authentication.
func (c *Config) HasCredentials() bool { return c.APIKey != "" || c.Username != "" }

// BaseURL is Kibana's URL without the space: scheme, host, port and base
// path, as libbeat builds it. Protocol and path apply where the host leaves
// them out; https is the default scheme when TLS is configured, 5601 the
// default port. Credentials in the URL are refused: they would end up in
// messages.
func (c *Config) BaseURL() (*url.URL, error) {
	u, err := endpoint.URL(c.Host, endpoint.Defaults{Scheme: endpoint.Scheme(c.Protocol, c.SSL.Wanted()), Port: DefaultPort, Path: c.Path})
	if err != nil {
		return nil, err
	}
	if u.User != nil {
		return nil, fmt.Errorf("credentials in %q: set setup.kibana.username and password (or api_key) instead", u.Redacted())
	}
	return u, nil
}

// encodedAPIKey returns the api_key in the base64 form of the
// "Authorization: ApiKey" header: "id:key" is encoded, anything else is
// taken as already encoded (as the Elasticsearch output does).
func (c *Config) encodedAPIKey() string {
	if strings.Contains(c.APIKey, ":") {
		return base64.StdEncoding.EncodeToString([]byte(c.APIKey))
	}
	return c.APIKey
}
