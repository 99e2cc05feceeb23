package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus collectors. Names:
//
//	lake_http_requests_total{route,code}          requests answered, by route pattern and HTTP status
//	lake_http_request_duration_seconds{route}     request latency histogram, by route pattern
//	lake_writes_total                             deltas committed
//	lake_reads_total                              documents read
//	lake_snapshots_saved_total                    snapshots saved by reads with snap=1
//	lake_errors_total{code}                       error responses, by API error code
type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	writes    prometheus.Counter
	reads     prometheus.Counter
	snapshots prometheus.Counter
	errors    *prometheus.CounterVec
	handler   http.Handler
}

func newMetrics(reg prometheus.Registerer, gather prometheus.Gatherer) *metrics {
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gather = r, r
	}
	if gather == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			gather = g
		} else {
			gather = prometheus.DefaultGatherer
		}
	}
	m := &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lake_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"})),
		latency: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lake_http_request_duration_seconds",
			Help:    "HTTP request latency, by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"})),
		writes: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lake_writes_total",
			Help: "Deltas committed through the API.",
		})),
		reads: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lake_reads_total",
			Help: "Catalog documents read through the API.",
		})),
		snapshots: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lake_snapshots_saved_total",
			Help: "Snapshots saved by reads that asked for one (snap=1).",
		})),
		errors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lake_errors_total",
			Help: "Error responses, by API error code.",
		}, []string{"code"})),
	}
	m.handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(gather, promhttp.HandlerOpts{}))
	return m
}

// register registers c, or returns the collector already registered under
// the same description (two servers sharing one registry share counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func (m *metrics) observe(route string, status int, elapsed time.Duration, errCode string) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(elapsed.Seconds())
	if errCode != "" {
		m.errors.WithLabelValues(errCode).Inc()
	}
}
