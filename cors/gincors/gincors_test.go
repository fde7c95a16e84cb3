package gincors_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/cors/gincors"
	"github.com/example/sso/cors/internal/spectest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// engine returns a Gin engine with the middleware under test, earlier
// middleware pre, and spectest.Next on /x for every method.
func engine(t testing.TB, pre ...gin.HandlerFunc) *gin.Engine {
	e := gin.New()
	e.Use(pre...)
	e.Use(gincors.New(spectest.NewPolicy(t)))
	e.Any("/x", gin.WrapH(spectest.Next))
	return e
}

func serve(h http.Handler) func(*http.Request) *httptest.ResponseRecorder {
	return func(r *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
}

// TestSpec runs the table shared with package cors's entry points.
func TestSpec(t *testing.T) {
	spectest.Run(t, serve(engine(t)), func(c spectest.Case) *spectest.Response {
		if c.Gin != nil {
			return c.Gin
		}
		return &c.Want
	})
}

func TestPreflightWithoutRoute(t *testing.T) {
	e := engine(t)
	r := httptest.NewRequest("OPTIONS", "/no/such/route", nil)
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, r)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("preflight to an unrouted path = %d %v, want 204 with Access-Control-Allow-Origin", rec.Code, rec.Header())
	}
}

// TestKeepsEarlierVary: gin-contrib/cors replaces Vary; we must not.
func TestKeepsEarlierVary(t *testing.T) {
	gzipLike := func(c *gin.Context) { c.Header("Vary", "Accept-Encoding") }
	leaky := func(c *gin.Context) { c.Header("Access-Control-Allow-Origin", "*") }
	e := engine(t, gzipLike, leaky)
	for _, origin := range []string{"", "https://app.example.com", "https://evil.net"} {
		r := httptest.NewRequest("GET", "/x", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, r)
		if got, want := rec.Result().Header.Values("Vary"), []string{"Accept-Encoding", "Origin"}; !slices.Equal(got, want) {
			t.Errorf("Origin %q: Vary = %q, want %q", origin, got, want)
		}
		spectest.CheckInvariants(t, r, rec)
	}
}

func TestDisallowedNeverReachesHandler(t *testing.T) {
	ran := false
	e := gin.New()
	e.Use(gincors.New(spectest.NewPolicy(t)))
	e.POST("/x", func(c *gin.Context) { ran = true })
	r := httptest.NewRequest("POST", "/x", nil)
	r.Header.Set("Origin", "https://example.com.evil.net")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden || ran {
		t.Errorf("POST from a disallowed origin: status %d, handler ran %v; want 403 and not run", rec.Code, ran)
	}
}

var adversarial = []string{
	"", "null", "*", "https://app.example.com", "HTTPS://APP.EXAMPLE.COM", "https://example.com", "https://app.example.org:8443",
	"https://app.example.org", "http://app.example.com", "https://example.com.evil.net", "https://evilexample.com",
	"https://example.com@evil.net", "https://evil.net#.example.com", "https://app.example.com/", "https://app.example.com.",
	"https://аpp.example.com", "https://app.exаmple.com", "https://[::1]", "https://https://app.example.com",
	"http://sso.example.com", "https://sso.example.com",
}

func requests(origin, method, headers string) []*http.Request {
	var out []*http.Request
	for _, m := range []string{"GET", "POST", "OPTIONS"} {
		r := httptest.NewRequest(m, "/x", nil)
		r.Header.Set("Origin", origin)
		out = append(out, r)
	}
	r := httptest.NewRequest("OPTIONS", "/x", nil)
	r.Header.Set("Origin", origin)
	r.Header.Set("Access-Control-Request-Method", method)
	r.Header.Set("Access-Control-Request-Headers", headers)
	return append(out, r)
}

func TestInvariants(t *testing.T) {
	e := engine(t)
	for _, origin := range adversarial {
		for _, r := range requests(origin, "PUT", "content-type") {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, r)
			spectest.CheckInvariants(t, r, rec)
		}
	}
}

func FuzzGin(f *testing.F) {
	for _, o := range adversarial {
		f.Add(o, "PUT", "content-type")
	}
	e := engine(f)
	f.Fuzz(func(t *testing.T, origin, method, headers string) {
		for _, r := range requests(origin, method, headers) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, r)
			spectest.CheckInvariants(t, r, rec)
		}
	})
}
