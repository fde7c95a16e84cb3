package login

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

// maxDeviceCookies is how many device cookies of one request are tried.
const maxDeviceCookies = 4

// DeviceCookieName is the device cookie's name: __Host- whenever cookies
// are Secure, so no sibling can set it and plant a device of its choosing.
func (p *Pipeline) DeviceCookieName() string {
	if p.opt.Cookies.Secure() {
		return "__Host-sso_device"
	}
	return "sso_device"
}

// deviceMAC binds a device nonce and expiry to one limiter user key (an
// HMAC of a login as typed, see userKey), so the cookie names no user.
func (p *Pipeline) deviceMAC(nonce, exp, userKey string) string {
	m := hmac.New(sha256.New, p.deviceKey)
	m.Write([]byte(nonce + "|" + exp + "|" + userKey))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// deviceCookie is a fresh device cookie for u, vouching for u's name and
// email; nil when no randomness could be had (the client stays untrusted,
// nothing worse).
func (p *Pipeline) deviceCookie(u users.User) *http.Cookie {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil
	}
	nonce := base64.RawURLEncoding.EncodeToString(b)
	exp := strconv.FormatInt(p.opt.Now().Add(deviceTTL).Unix(), 10)
	parts := []string{nonce, exp, p.deviceMAC(nonce, exp, userKey(p.limiterKey, u.Name))}
	if u.Email != "" {
		parts = append(parts, p.deviceMAC(nonce, exp, userKey(p.limiterKey, u.Email)))
	}
	return &http.Cookie{
		Name: p.DeviceCookieName(), Value: strings.Join(parts, "."), Path: "/",
		MaxAge: int(deviceTTL / time.Second), Secure: p.opt.Cookies.Secure(), HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
}

// device returns the limiter key of the first of values that is a device
// cookie valid now for login (as typed), or "". Every copy is tried (a few
// at most): without __Host- (plain-HTTP dev mode) a sibling can set one of
// the same name that the browser sends first, which must not hide the
// owner's.
func (p *Pipeline) device(values []string, login string) string {
	for i, v := range values {
		if i == maxDeviceCookies {
			break
		}
		if key := p.deviceKeyFor(v, login); key != "" {
			return key
		}
	}
	return ""
}

func (p *Pipeline) deviceKeyFor(v, login string) string {
	if len(v) > 256 {
		return ""
	}
	parts := strings.Split(v, ".")
	if len(parts) < 3 || len(parts) > 4 {
		return ""
	}
	nonce, exp := parts[0], parts[1]
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !p.opt.Now().Before(time.Unix(secs, 0)) {
		return ""
	}
	want := p.deviceMAC(nonce, exp, userKey(p.limiterKey, login))
	ok := false
	for _, mac := range parts[2:] {
		if hmac.Equal([]byte(mac), []byte(want)) {
			ok = true
		}
	}
	if !ok {
		return ""
	}
	m := hmac.New(sha256.New, p.limiterKey)
	m.Write([]byte("device|" + nonce))
	return "d:" + hex.EncodeToString(m.Sum(nil)[:16])
}
