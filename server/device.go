package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/users"
)

// Device cookies, after OWASP's "Slow Down Online Guessing Attacks with
// Device Cookies": a successful login gives the client a long-lived, signed,
// host-only cookie that vouches for the logins (name and email) of the user
// who logged in. Failed attempts that bring one count against that device
// alone; all others count against the user's untrusted-clients bucket and
// the client address. So a guesser who locks the untrusted bucket never
// locks out the owner's own browser, script or cookie jar.

// deviceTTL is how long a device cookie vouches for its client.
const deviceTTL = 365 * 24 * time.Hour

// deviceCookieName is __Host- whenever cookies are Secure: no sibling can
// set it, so none can plant a device of its choosing.
func (s *Server) deviceCookieName() string {
	if s.opt.Cookies.Secure() {
		return "__Host-sso_device"
	}
	return "sso_device"
}

// deviceMAC binds a device nonce and expiry to one limiter user key (an
// HMAC of a login as typed, see userKey), so the cookie names no user.
func (s *Server) deviceMAC(nonce, exp, userKey string) string {
	m := hmac.New(sha256.New, s.deviceKey)
	m.Write([]byte(nonce + "|" + exp + "|" + userKey))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// setDeviceCookie gives the client a fresh device cookie for u, vouching for
// u's name and email.
func (s *Server) setDeviceCookie(c *gin.Context, u users.User) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return // no device cookie: the client stays untrusted, nothing worse
	}
	nonce := base64.RawURLEncoding.EncodeToString(b)
	exp := strconv.FormatInt(s.opt.Now().Add(deviceTTL).Unix(), 10)
	parts := []string{nonce, exp, s.deviceMAC(nonce, exp, userKey(s.limiterKey, u.Name))}
	if u.Email != "" {
		parts = append(parts, s.deviceMAC(nonce, exp, userKey(s.limiterKey, u.Email)))
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: s.deviceCookieName(), Value: strings.Join(parts, "."), Path: "/",
		MaxAge: int(deviceTTL / time.Second), Secure: s.opt.Cookies.Secure(), HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

// device returns the limiter key of the request's device cookie when one
// is valid now for login (as typed), or "". Every copy is tried (a few at
// most): without __Host- (plain-HTTP dev mode) a sibling can set one of the
// same name that the browser sends first, which must not hide the owner's.
func (s *Server) device(c *gin.Context, login string) string {
	for i, ck := range c.Request.CookiesNamed(s.deviceCookieName()) {
		if i == 4 {
			break
		}
		if key := s.deviceKeyFor(ck.Value, login); key != "" {
			return key
		}
	}
	return ""
}

func (s *Server) deviceKeyFor(v, login string) string {
	if len(v) > 256 {
		return ""
	}
	parts := strings.Split(v, ".")
	if len(parts) < 3 || len(parts) > 4 {
		return ""
	}
	nonce, exp := parts[0], parts[1]
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !s.opt.Now().Before(time.Unix(secs, 0)) {
		return ""
	}
	want := s.deviceMAC(nonce, exp, userKey(s.limiterKey, login))
	ok := false
	for _, mac := range parts[2:] {
		if hmac.Equal([]byte(mac), []byte(want)) {
			ok = true
		}
	}
	if !ok {
		return ""
	}
	m := hmac.New(sha256.New, s.limiterKey)
	m.Write([]byte("device|" + nonce))
	return "d:" + hex.EncodeToString(m.Sum(nil)[:16])
}
