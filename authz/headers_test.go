package authz

import (
	"net/http"
	"slices"
	"testing"
)

// cookieValues gives what r.CookiesNamed gives, for well-formed and
// hostile Cookie lines alike.
func FuzzCookieValues(f *testing.F) {
	for _, s := range []string{
		"sso_session=abc", "a=1; sso_session=x; sso_session=y", ` sso_session="quoted" ; b=2`,
		"sso_session=bad\\value", "sso_session=", "sso_session", "sso_session==x", "sso_session=a b",
		"sso_session=\"", "sso_session=\"\"", ";;sso_session=v;;", "SSO_SESSION=v", "sso_session =v",
		"sso_session=\x7f", "sso_session=v\t", "\tsso_session=v",
	} {
		f.Add(s, "b=1")
	}
	f.Fuzz(func(t *testing.T, line1, line2 string) {
		r := &http.Request{Header: http.Header{"Cookie": {line1, line2}}}
		var want []string
		for _, c := range r.CookiesNamed("sso_session") {
			want = append(want, c.Value)
		}
		got := slices.Collect(cookieValues(r.Header, "sso_session"))
		if !slices.Equal(got, want) {
			t.Errorf("Cookie %q, %q: cookieValues = %q, CookiesNamed = %q", line1, line2, got, want)
		}
	})
}

// The cached audience is the one upstreamAudience gives the whole URL,
// whether the cache answered or not.
func FuzzAudienceCache(f *testing.F) {
	for _, s := range []string{
		"https://app.example.test/orders?id=7", "https://APP.example.test:443/", "http://a.example.test:8080",
		"https://u@app.example.test/", "https://app.example.test/%zz", "https://app.example.test\\@evil/",
		"ftp://app.example.test/", "https:app.example.test", "https://[::1]:8443/x#f", "https://app.example.test/\x00",
		"https://app.example.test?q", "https://xn--bcher-kva.example/", "https://bücher.example/", "//app.example.test/",
	} {
		f.Add(s)
	}
	var c audienceCache
	f.Fuzz(func(t *testing.T, u string) {
		want, wantOK := upstreamAudience(u)
		for i := range 2 { // a miss, then (when cacheable) a hit
			got, ok := c.audience(u)
			if got != want || ok != wantOK {
				t.Fatalf("round %d: audience(%q) = %q, %v; upstreamAudience = %q, %v", i, u, got, ok, want, wantOK)
			}
		}
	})
}
