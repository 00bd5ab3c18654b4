// Command kibanaserver runs the Kibana test server of package kibanaserver
// for manual runs:
//
//	go run ./tests/kibanaserver/cmd/kibanaserver -addr 127.0.0.1:5601 -user elastic -password changeme
//	spawnbeat setup --dashboards -E setup.kibana.username=elastic -E setup.kibana.password=changeme
//
// It serves until SIGINT or SIGTERM and then prints what it holds: the
// saved objects and detection rules of each space, and the requests it
// answered.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spawnbeat/spawnbeat/tests/esserver"
	"github.com/spawnbeat/spawnbeat/tests/kibanaserver"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kibanaserver:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		opts    kibanaserver.Options
		faults  kibanaserver.Faults
		apiKeys listFlag
		spaces  listFlag
		useTLS  bool
		caOut   string
		verbose bool
	)
	flag.StringVar(&opts.Addr, "addr", "127.0.0.1:5601", "listen address")
	flag.StringVar(&opts.Version, "version", kibanaserver.DefaultVersion, "Kibana version to report")
	flag.StringVar(&opts.Username, "user", "", "require Basic authentication with this user")
	flag.StringVar(&opts.Password, "password", "", "password for -user")
	flag.Var(&apiKeys, "api-key", "accept this id:key API key (repeatable)")
	flag.Var(&spaces, "space", "a space that exists besides default (repeatable)")
	flag.StringVar(&opts.BasePath, "base-path", "", `Kibana's server.basePath, e.g. "/kibana"`)
	flag.BoolVar(&useTLS, "tls", false, "serve HTTPS with a certificate from a fresh test CA")
	flag.StringVar(&caOut, "ca-out", "kibanaserver-ca.pem", "with -tls, write the CA certificate here")
	flag.IntVar(&faults.Status, "fault-status", 0, "answer every request (or those under -fault-path) with this status")
	flag.StringVar(&faults.Path, "fault-path", "", "API path prefix -fault-status applies to, e.g. /api/saved_objects/_import")
	flag.DurationVar(&faults.Latency, "latency", 0, "latency added before every answer")
	flag.StringVar(&faults.Level, "level", "", "overall status level: available, degraded, unavailable, critical")
	flag.BoolVar(&verbose, "v", false, "log injected faults")
	flag.Parse()
	opts.APIKeys, opts.Spaces = apiKeys, spaces
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	if verbose {
		opts.Logf = logger.Printf
	}
	if useTLS {
		cfg, err := esserver.CommandTLS(opts.Addr, caOut)
		if err != nil {
			return err
		}
		opts.TLS = cfg
		logger.Printf("CA certificate written to %s", caOut)
	}
	srv, err := kibanaserver.Start(opts)
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer srv.Close()
	srv.SetFaults(faults)
	logger.Printf("serving Kibana %s at %s", opts.Version, srv.URL())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	for _, space := range append([]string{"default"}, spaces...) {
		for _, o := range srv.Objects(space) {
			logger.Printf("space %s: saved object %s %s", space, o.Type, o.ID)
		}
		for _, r := range srv.Rules(space) {
			logger.Printf("space %s: rule %s %v", space, r.RuleID, r.Body["name"])
		}
	}
	for _, r := range srv.Requests() {
		logger.Printf("request %s %s -> %d (%s)", r.Method, r.Path, r.Status, r.Principal)
	}
	return nil
}
