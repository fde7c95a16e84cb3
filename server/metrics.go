package server

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/example/sso/authz"
	"github.com/example/sso/login"
	"github.com/example/sso/session/authcache"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	auth     *prometheus.CounterVec
	logins   *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sso_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sso_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"route"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sso_auth_decisions_total", Help: "/auth decisions by result and credential kind.",
		}, []string{"result", "method"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sso_logins_total", Help: "Login attempts by outcome.",
		}, []string{"outcome"}),
	}
	// A registry shared by two servers in one process (tests) must not fail:
	// register what is not yet there.
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.auth, m.logins,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		_ = reg.Register(c)
	}
	return m
}

// observeLogin counts login outcomes in sso_logins_total{outcome} (ok,
// refused, blocked, busy) and logs logins and refusals.
func (s *Server) observeLogin(_ context.Context, e login.Event) {
	switch e.Kind {
	case login.EventMinted:
		s.metrics.logins.WithLabelValues("ok").Inc()
		s.opt.Log.Info("login", "user", e.User, "client", e.ClientIP, "via", e.Via)
	case login.EventFailed:
		s.metrics.logins.WithLabelValues("refused").Inc()
		s.opt.Log.Info("login refused", "client", e.ClientIP, "via", e.Via)
	case login.EventBlocked:
		s.metrics.logins.WithLabelValues("blocked").Inc()
	case login.EventBusy:
		s.metrics.logins.WithLabelValues("busy").Inc()
	case login.EventSecondSucceeded, login.EventSecondFailed, login.EventEnrolled, login.EventRemoved:
		// Audit lines of the second factor: "event" names them, as the
		// JSON audit log does; never a code or secret.
		s.opt.Log.Info("second factor", "event", string(e.Kind), "user", e.User, "method", e.Method,
			"kind", e.Detail, "client", e.ClientIP, "via", e.Via)
	}
}

func (m *metrics) observeAuth(r authz.Result, method authz.Method) {
	m.auth.WithLabelValues(string(r), string(method)).Inc()
}

// StoreTimeoutCounter registers sso_store_timeouts_total{op} on reg and
// returns the function that counts one, for the store's deadline wrapper
// (session/deadline), which is built before the server.
func StoreTimeoutCounter(reg *prometheus.Registry) func(op string) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sso_store_timeouts_total", Help: "Store calls that ran past SSO_STORE_TIMEOUT, by operation.",
	}, []string{"op"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				c = existing
			}
		}
	}
	return func(op string) { c.WithLabelValues(op).Inc() }
}

// AuthCacheMetrics registers the verified-session cache's series on reg and
// returns the hooks that feed them, for session/authcache, which is built
// before the server:
//
//	sso_auth_cache_lookups_total{kind,result}    kind session|key; result hit|miss|off
//	sso_auth_cache_invalidations_total{kind,source} kind session|key|user|all; source local|bus
//	sso_auth_cache_usable                        1 while the cache may answer
func AuthCacheMetrics(reg *prometheus.Registry) authcache.Metrics {
	lookups := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sso_auth_cache_lookups_total", Help: "Verified-session cache look-ups by kind (session, key) and result (hit, miss, off: not usable).",
	}, []string{"kind", "result"}))
	inval := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sso_auth_cache_invalidations_total", Help: "Verified-session cache invalidations applied, by kind (session, key, user, all) and source (local, bus: received from another instance or echoed).",
	}, []string{"kind", "source"}))
	usable := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sso_auth_cache_usable", Help: "1 while the verified-session cache may answer (invalidations confirmed), 0 otherwise.",
	})
	if err := reg.Register(usable); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Gauge); ok {
				usable = existing
			}
		}
	}
	return authcache.Metrics{
		Lookup:      func(kind, result string) { lookups.WithLabelValues(kind, result).Inc() },
		Invalidated: func(kind, source string) { inval.WithLabelValues(kind, source).Inc() },
		Usable: func(ok bool) {
			if ok {
				usable.Set(1)
			} else {
				usable.Set(0)
			}
		},
	}
}

// register registers c on reg, or returns the one already there (a
// registry shared by two servers in one process, in tests).
func register(reg *prometheus.Registry, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}
