package redirect

import (
	"strings"
	"testing"
)

// underExample stands in for cookiedomain.Policy.Contains with the single
// parent domain example.com.
func underExample(h string) bool {
	return h == "example.com" || strings.HasSuffix(h, ".example.com")
}

func TestCheck(t *testing.T) {
	tests := []struct {
		rd   string
		want string // "" means refused
	}{
		// Followed.
		{"/", "/"},
		{"/app", "/app"},
		{"/app/x?y=1#z", "/app/x?y=1#z"},
		{"/a:b", "/a:b"},
		{"/search?q=a%20b&x=%2F", "/search?q=a%20b&x=%2F"},
		{"/a%2fb", "/a%2fb"},                           // an encoded slash inside the path is harmless
		{"/%252f%252fevil.net", "/%252f%252fevil.net"}, // one decoding gives "/%2f%2fevil.net", still a path
		{"/?x=ü", "/?x=%C3%BC"},
		{"/ü", "/%C3%BC"},
		{"/x#ü", "/x#%C3%BC"},
		{"/..", "/.."}, // resolves to "/"
		{"https://example.com", "https://example.com"},
		{"https://example.com/", "https://example.com/"},
		{"https://app.example.com/x?y=1#z", "https://app.example.com/x?y=1#z"},
		{"HTTPS://APP.EXAMPLE.COM/Path", "https://app.example.com/Path"},
		{"https://app.example.com./x", "https://app.example.com/x"},
		{"https://app.example.com:8443/x", "https://app.example.com:8443/x"},
		{"https://app.example.com:08443/x", "https://app.example.com:8443/x"},
		{"https://app.example.com:/x", "https://app.example.com/x"},
		{"https://a.b.c.example.com", "https://a.b.c.example.com"},
		{"https://bücher.example.com/", "https://xn--bcher-kva.example.com/"},
		{"https://ａｐｐ.example.com/", "https://app.example.com/"},           // full-width letters: what a browser visits
		{"https://evil.net。example.com/", "https://evil.net.example.com/"}, // a subdomain of example.com after mapping
		{"https://app.example.com#@evil.net", "https://app.example.com#@evil.net"},
		{"https://app.example.com?@evil.net", "https://app.example.com?@evil.net"},
		{"https://app.example.com/@evil.net", "https://app.example.com/@evil.net"},
		{"https://app.example.com//evil.net", "https://app.example.com//evil.net"}, // a path on our host

		// Refused: not a path or https URL.
		{"", ""},
		{"app", ""},
		{"app.example.com/x", ""},
		{"?x=1", ""},
		{"#x", ""},
		{"./x", ""},
		{"http://app.example.com/", ""},
		{"javascript:alert(1)", ""},
		{"JavaScript://app.example.com/%0aalert(1)", ""},
		{"data:text/html,<script>alert(1)</script>", ""},
		{"ftp://app.example.com/", ""},
		{"ws://app.example.com/", ""},
		{"https:evil.net", ""},
		{"https:/evil.net", ""},
		{"https:///evil.net", ""},
		{"https://", ""},
		{"https://:443/", ""},

		// Refused: scheme-relative and its disguises.
		{"//evil.net", ""},
		{"///evil.net", ""},
		{"////evil.net", ""},
		{"/\\evil.net", ""},
		{"\\\\evil.net", ""},
		{"\\/evil.net", ""},
		{"/\t/evil.com", ""}, // oauth2-proxy GHSA-j7px-6hwj-hpjg
		{"/ /evil.com", ""},  // oauth2-proxy GHSA-j7px-6hwj-hpjg
		{"/\\evil.com", ""},  // oauth2-proxy CVE-2020-5233
		{"/\r/evil.net", ""},
		{"/\n/evil.net", ""},
		{"/%2f%2fevil.net", ""},
		{"/%2F/evil.net", ""},
		{"/%5cevil.net", ""},
		{"/%5C%5Cevil.net", ""},
		{"/..//evil.net", ""},
		{"/.//evil.net", ""},
		{"/a/../..//evil.net", ""},
		{"/%2e%2e//evil.net", ""},
		{"/%2e//evil.net", ""},
		{" /x", ""},
		{"/x ", ""},
		{"\t//evil.net", ""},

		// Refused: other hosts.
		{"https://evil.net/", ""},
		{"https://evilexample.com/", ""},
		{"https://example.com.evil.net/", ""},
		{"https://app.example.com.evil.net/", ""},
		{"https://evil.net#.example.com", ""},
		{"https://evil.net?.example.com", ""},
		{"https://evil.net/.example.com", ""},
		{"https://evil.net\\.example.com", ""},
		{"https://evil.net%2eexample.com", ""},
		{"https://app.example.com%2f@evil.net", ""},
		{"https://127.0.0.1/", ""},
		{"https://[::1]/", ""},
		{"https://2130706433/", ""},
		{"https://0x7f.1/", ""},
		{"https://com/", ""},

		// Refused: userinfo.
		{"https://example.com@evil.net", ""},
		{"https://app.example.com@evil.net/", ""},
		{"https://user:pass@app.example.com/", ""},
		{"https://user@app.example.com/", ""},
		{"https://@app.example.com/", ""},
		{"https://evil.net@app.example.com/", ""},
		{"https://app.example.com:443@evil.net/", ""},

		// Refused: whitespace, control and invisible characters.
		{"https://app.example.com/\x00", ""},
		{"https://app.example.com/\r\nSet-Cookie:x=1", ""},
		{"https://app.example.com/%0d%0aSet-Cookie:x=1", ""},
		{"/x?%0d%0aSet-Cookie:x=1", ""},
		{"/x#%00", ""},
		{"/x%09", ""},
		{"https://app.example%0a.com/", ""},
		{"https://app.example.com%09/", ""},
		{"https://app.exa\tmple.com/", ""},
		{"https://app.example.com /", ""},
		{"https://app.example.com/\u00a0", ""},
		{"https://app.example.com/\u202e", ""},
		{"https://app\u200b.example.com/", ""},
		{"/\u3000/evil.net", ""},
		{"/x\x7f", ""},
		{"/x\xff", ""}, // invalid UTF-8

		// Refused: malformed hosts and ports.
		{"https://app.example.com:abc/", ""},
		{"https://app.example.com:65536/", ""},
		{"https://app.example.com:1:2/", ""},
		{"https://app..example.com/", ""},
		{"https://.example.com/", ""},
		{"https://app.example.com../", ""},
		{"https://app_x.example.com/", ""},
		{"https://app.exam!ple.com/", ""},
		{"https://[fe80::1%25eth0]/", ""},
		{"https://" + strings.Repeat("a", 64) + ".example.com/", ""},

		// Refused: too long.
		{"/" + strings.Repeat("a", MaxLen), ""},
	}
	for _, tc := range tests {
		t.Run(tc.rd, func(t *testing.T) {
			got, ok := Check(tc.rd, underExample)
			if want := tc.want != ""; ok != want || got != tc.want {
				t.Fatalf("Check(%q) = %q, %v, want %q, %v", tc.rd, got, ok, tc.want, want)
			}
			if ok {
				if again, ok := Check(got, underExample); !ok || again != got {
					t.Errorf("Check(%q) = %q, %v, want %q, true (idempotent)", got, again, ok, got)
				}
			}
		})
	}
}

func TestCheckLength(t *testing.T) {
	rd := "/" + strings.Repeat("a", MaxLen-1)
	if got, ok := Check(rd, underExample); !ok || got != rd {
		t.Errorf("Check(%d bytes) = %d bytes, %v, want it unchanged and true", len(rd), len(got), ok)
	}
	if _, ok := Check(rd+"a", underExample); ok {
		t.Errorf("Check(%d bytes) = true, want false above MaxLen", len(rd)+1)
	}
}

func TestCheckAllowedSeesCanonicalHost(t *testing.T) {
	var seen []string
	allowed := func(h string) bool { seen = append(seen, h); return true }
	for _, rd := range []string{"https://APP.Example.COM.:8443/x", "https://bücher.example/", "https://[::1]:443/", "https://127.0.0.1/"} {
		Check(rd, allowed)
	}
	want := []string{"app.example.com", "xn--bcher-kva.example", "::1", "127.0.0.1"}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Errorf("allowed saw %q, want %q", seen, want)
	}
	if got, ok := Check("https://[::1]:443/", allowed); !ok || got != "https://[::1]:443/" {
		t.Errorf("Check(%q) = %q, %v, want %q, true", "https://[::1]:443/", got, ok, "https://[::1]:443/")
	}
}

func TestCheckNilAllowed(t *testing.T) {
	if got, ok := Check("https://app.example.com/", nil); ok {
		t.Errorf("Check(https URL, nil) = %q, true, want refused", got)
	}
	if got, ok := Check("/x", nil); !ok || got != "/x" {
		t.Errorf("Check(%q, nil) = %q, %v, want %q, true", "/x", got, ok, "/x")
	}
}
