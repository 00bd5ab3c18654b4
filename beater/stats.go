package beater

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/config"
)

// Snapshot is what GET /stats returns: every counter of every stage.
type Snapshot struct {
	Capture   any `json:"capture"`
	Detection any `json:"detection,omitempty"`
	Processed struct {
		Events        uint64 `json:"events"`
		QueueFailures uint64 `json:"queue_failures"`
	} `json:"processing"`
	Queue    any `json:"queue"`
	Delivery any `json:"delivery"`
	Output   any `json:"output,omitempty"`
}

func (s *stages) snapshot() Snapshot {
	var snap Snapshot
	snap.Capture = s.source.Stats()
	if s.detector != nil {
		snap.Detection = s.detector.Stats()
	}
	snap.Processed.Events = s.processed.Load()
	snap.Processed.QueueFailures = s.queueFailures.Load()
	snap.Queue = s.queue.Stats()
	if s.loop != nil {
		snap.Delivery = s.loop.Stats()
	}
	if s.outputStats != nil {
		snap.Output = s.outputStats()
	}
	return snap
}

// serveStats starts the monitoring endpoint: GET /stats answers the
// counters as JSON. It listens on http.host (localhost by default).
func serveStats(cfg config.HTTP, st *stages, log *zap.Logger) (*http.Server, error) {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("monitoring endpoint %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st.snapshot())
	})
	if cfg.Pprof.Enabled {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("monitoring endpoint stopped", zap.Error(err))
		}
	}()
	log.Info("monitoring endpoint listening", zap.String("url", "http://"+ln.Addr().String()+"/stats"))
	return srv, nil
}
