package metrics

import (
	"net/http"
	"sync/atomic"
)

// Health is what /readyz reports: ready, or not ready and why. The zero value is not ready,
// with the reason "starting"; its methods are safe for concurrent use.
type Health struct {
	why atomic.Pointer[string] // nil: starting; "": ready; else why not
}

// SetReady marks the process ready: its configuration is loaded and its listeners are open.
func (h *Health) SetReady() {
	ready := ""
	h.why.Store(&ready)
}

// SetNotReady marks the process not ready for why, one plain sentence such as "draining: popwire is
// shutting down".
func (h *Health) SetNotReady(why string) {
	h.why.Store(&why)
}

// Ready reports whether the process is ready and, when it is not, why.
func (h *Health) Ready() (bool, string) {
	why := h.why.Load()
	if why == nil {
		return false, "starting: the listeners are not open yet"
	}
	return *why == "", *why
}

// Mux returns the handler of the metrics address: /metrics (r's metrics), /healthz (200 "ok"
// whenever the process answers HTTP) and /readyz (200 "ready", or 503 with h's one-line reason).
func (r *Registry) Mux(h *Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.Handler())
	mux.HandleFunc("GET /healthz", serveHealthz)
	mux.Handle("GET /readyz", readyz{h})
	return mux
}

// serveHealthz answers the liveness probe: the process runs and serves HTTP.
func serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers the readiness probe from a Health.
type readyz struct{ h *Health }

func (z readyz) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	ok, why := z.h.Ready()
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(why + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
