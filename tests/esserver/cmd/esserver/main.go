// Command esserver runs the Elasticsearch wire-compatible test server of
// package esserver for manual runs and benchmarks:
//
//	go run ./tests/esserver/cmd/esserver -addr 127.0.0.1:9200 -fault-item-429 0.01
//
// It serves until SIGINT or SIGTERM and then prints its counters.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "esserver:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		opts    esserver.Options
		faults  esserver.Faults
		apiKeys listFlag
		useTLS  bool
		caOut   string
		every   time.Duration
		verbose bool
	)
	flag.StringVar(&opts.Addr, "addr", "127.0.0.1:9200", "listen address")
	flag.StringVar(&opts.Version, "version", esserver.DefaultVersion, "Elasticsearch version to report")
	flag.StringVar(&opts.Username, "user", "", "require Basic authentication with this user")
	flag.StringVar(&opts.Password, "password", "", "password for -user")
	flag.Var(&apiKeys, "api-key", "accept this id:key API key (repeatable)")
	flag.BoolVar(&useTLS, "tls", false, "serve HTTPS with a certificate from a fresh test CA")
	flag.StringVar(&caOut, "ca-out", "esserver-ca.pem", "with -tls, write the CA certificate here")
	flag.Float64Var(&faults.RequestStatus429, "fault-429", 0, "probability of a whole-request 429 per _bulk")
	flag.Float64Var(&faults.RequestStatus503, "fault-503", 0, "probability of a whole-request 503 per _bulk")
	flag.Float64Var(&faults.ItemStatus429, "fault-item-429", 0, "probability of a 429 per bulk item")
	flag.Float64Var(&faults.CutConnection, "fault-cut", 0, "probability of cutting a _bulk connection (half after applying)")
	flag.DurationVar(&faults.Latency, "latency", 0, "latency added before every response")
	flag.Int64Var(&faults.Seed, "seed", 1, "seed of the fault draws")
	flag.DurationVar(&every, "stats-every", 0, "print counters at this interval (0: only at exit)")
	flag.BoolVar(&verbose, "v", false, "log injected faults")
	flag.Parse()
	opts.APIKeys = apiKeys
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
	srv, err := esserver.Start(opts)
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	defer srv.Close()
	srv.SetFaults(faults)
	logger.Printf("serving Elasticsearch %s at %s", opts.Version, srv.URL())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			printStats(logger, srv.Stats())
			return nil
		case <-tick:
			printStats(logger, srv.Stats())
		}
	}
}

func printStats(l *log.Logger, st esserver.Stats) {
	b, err := json.Marshal(st)
	if err != nil {
		l.Printf("encode stats: %v", err)
		return
	}
	l.Printf("stats %s", b)
}
