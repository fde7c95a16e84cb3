package gincors

import (
	"net/http"
	"slices"

	contrib "github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"github.com/example/sso/cors"
)

// New returns Gin middleware applying p, built on gin-contrib/cors with
// AllowOriginFunc = p.Allowed and credentials allowed, and corrected where
// gin-contrib/cors falls short (see the package documentation):
//
//   - A preflight (OPTIONS with Origin and Access-Control-Request-Method)
//     is answered by p.Preflight: 204 with the allow headers, or 403 with no
//     Access-Control-Allow-* header when the origin, the method or a
//     requested header is not allowed. It never reaches later handlers.
//   - Any other request from an allowed origin gets Vary: Origin,
//     Access-Control-Allow-Origin (its Origin, verbatim),
//     -Allow-Credentials: true and -Expose-Headers, and goes on.
//   - Any other request from a disallowed origin is aborted with 403 and an
//     empty body (gin-contrib/cors's rule), carrying Vary: Origin and no
//     Access-Control-* header. This is right for sso's own JSON API, which
//     has nothing to say to foreign pages.
//   - Requests without Origin (curl, scripts, same-origin GET navigations)
//     and same-origin requests (Origin equal to "http://" or "https://" plus
//     the Host header) pass through, with Vary: Origin added.
//
// Register it with engine.Use, before any session check: preflights carry
// no cookies, and Use also covers paths without an OPTIONS route.
func New(p *cors.Policy) gin.HandlerFunc {
	cfg := p.Config()
	inner := contrib.New(contrib.Config{
		AllowOriginFunc:  p.Allowed,
		AllowCredentials: true,
		AllowMethods:     cfg.AllowMethods,
		AllowHeaders:     cfg.AllowHeaders,
		ExposeHeaders:    cfg.ExposeHeaders,
		MaxAge:           cfg.MaxAge,
	})
	return func(c *gin.Context) {
		r := c.Request
		if cors.IsPreflight(r) {
			// gin-contrib/cors would answer any OPTIONS from an allowed
			// origin with 204 and the full lists, without checking the
			// method or headers asked for, and would copy its shared
			// header slices into the response.
			p.Preflight(c.Writer, r)
			c.Writer.WriteHeaderNow()
			c.Abort()
			return
		}
		h := c.Writer.Header()
		origin := r.Header.Get("Origin")
		// Before gin-contrib/cors: it aborts a disallowed origin with a
		// 403 written at once, and sends no Vary on that path. Decorate also
		// removes any Access-Control-* header an earlier handler set.
		allowed := p.Decorate(h, origin)
		if r.Method == http.MethodOptions {
			// Not a preflight, but gin-contrib/cors would answer it as one
			// (204 and abort). Apply its origin rule here instead.
			if origin != "" && !allowed && !sameOrigin(r, origin) {
				refuse(c)
			}
			return
		}
		if origin != "" && !allowed && !sameOrigin(r, origin) {
			refuse(c)
			return
		}
		vary := slices.Clone(h["Vary"])
		inner(c)
		if c.IsAborted() {
			return
		}
		// gin-contrib/cors replaces Vary with its own slice (dropping what
		// earlier middleware set, e.g. Accept-Encoding) and sets shared,
		// reformatted Access-Control-* values: put ours back.
		h["Vary"] = vary
		p.Decorate(h, origin)
	}
}

// sameOrigin is gin-contrib/cors's same-origin test, kept identical so that
// OPTIONS requests are treated like the others.
func sameOrigin(r *http.Request, origin string) bool {
	return origin == "http://"+r.Host || origin == "https://"+r.Host
}

// refuse answers a request from a disallowed origin: 403 with a JSON reason
// (gin-contrib would send an empty body) that repeats nothing from the
// request, and no Access-Control-Allow-* header.
func refuse(c *gin.Context) {
	c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "cross_origin", "message": "this origin is not allowed to call this API"})
}
