package mfa_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/example/sso/mfa"
	"github.com/example/sso/mfa/memstore"
)

func TestCeremonyCookie(t *testing.T) {
	m := newManager(t, memstore.New(nil), time.Now)
	for _, secure := range []bool{true, false} {
		c := m.CeremonyCookie("the-id", secure)
		if err := c.Valid(); err != nil {
			t.Fatalf("CeremonyCookie(secure %v) invalid: %v", secure, err)
		}
		// __Host- (RFC 6265bis §4.1.3.2): Secure, Path=/, no Domain.
		if secure && (c.Name != mfa.CeremonyCookieName || !c.Secure || c.Path != "/" || c.Domain != "") {
			t.Errorf("secure ceremony cookie %v breaks the __Host- rules", c)
		}
		if !c.HttpOnly || c.MaxAge != int(mfa.DefaultCeremonyTTL/time.Second) {
			t.Errorf("ceremony cookie %v: want HttpOnly, Max-Age %v", c, mfa.DefaultCeremonyTTL)
		}
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.AddCookie(c)
		if got := mfa.CeremonyID(r, secure); got != "the-id" {
			t.Errorf("CeremonyID(secure %v) = %q", secure, got)
		}
		if got := mfa.CeremonyID(r, !secure); got != "" {
			t.Errorf("CeremonyID(secure %v) read the other cookie: %q", !secure, got)
		}
		if cl := mfa.ClearCeremonyCookie(secure); cl.Name != c.Name || cl.MaxAge != -1 || cl.Path != c.Path {
			t.Errorf("ClearCeremonyCookie(%v) = %v does not clear %v", secure, cl, c)
		}
	}
}
