package session

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Real headers, as the browsers send them.
var userAgents = []struct{ name, ua, want string }{
	{"chrome linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", "Chrome 156 · Linux"},
	{"chrome windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.91 Safari/537.36", "Chrome 124 · Windows"},
	{"chrome mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Chrome 124 · macOS"},
	{"chrome android", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", "Chrome 124 · Android"},
	{"chrome ios", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1", "Chrome 124 · iOS"},
	{"chromeos", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Chrome 124 · ChromeOS"},
	{"headless chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36", "Headless Chrome 131 · Linux"},
	{"chromium", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chromium/120.0.0.0 Chrome/120.0.0.0 Safari/537.36", "Chromium 120 · Linux"},
	{"edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80", "Edge 124 · Windows"},
	{"legacy edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19045", "Edge 18 · Windows"},
	{"opera", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36 OPR/109.0.0.0", "Opera 109 · Windows"},
	{"samsung", "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36", "Samsung Internet 24 · Android"},
	{"firefox linux", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox 125 · Linux"},
	{"firefox windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox 125 · Windows"},
	{"firefox ios", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15", "Firefox 125 · iOS"},
	{"safari mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15", "Safari 17 · macOS"},
	{"safari iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1", "Safari 17 · iOS"},
	{"safari ipad", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "Safari 17 · iPadOS"},
	{"ie 11", "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko", "Internet Explorer 11 · Windows"},
	{"ie 9", "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)", "Internet Explorer 9 · Windows"},
	{"curl", "curl/8.5.0", "curl 8"},
	{"python requests", "python-requests/2.31.0", "python-requests 2"},
	{"go", "Go-http-client/1.1", "Go-http-client 1"},
	{"no version", "sso-cli", "sso-cli"},
	{"empty", "", ""},
	{"blank", "   ", ""},
	{"mozilla only", "Mozilla/5.0", "unknown"},
	{"os only", "Mozilla/5.0 (X11; Linux x86_64)", "Linux"},
	{"hostile name", "\x00<script>/1", "script 1"},
	{"long name", strings.Repeat("a", 300) + "/9", strings.Repeat("a", 32) + " 9"},
	{"huge version", "Mozilla/5.0 Chrome/99999999999", "Chrome 99999"},
}

func TestUserAgentSummary(t *testing.T) {
	for _, tc := range userAgents {
		t.Run(tc.name, func(t *testing.T) {
			if got := UserAgentSummary(tc.ua); got != tc.want {
				t.Errorf("UserAgentSummary(%q) = %q, want %q", tc.ua, got, tc.want)
			}
		})
	}
}

func FuzzUserAgentSummary(f *testing.F) {
	for _, tc := range userAgents {
		f.Add(tc.ua)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := UserAgentSummary(ua)
		if len(got) > MaxUserAgent || !utf8.ValidString(got) {
			t.Fatalf("UserAgentSummary(%q) = %q: longer than %d bytes or not UTF-8", ua, got, MaxUserAgent)
		}
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Fatalf("UserAgentSummary(%q) = %q: holds a control character", ua, got)
			}
		}
		if strings.TrimSpace(ua) != "" && got == "" {
			t.Fatalf("UserAgentSummary(%q) = \"\" for a header that is not blank", ua)
		}
		if again := UserAgentSummary(got); len(again) > MaxUserAgent {
			t.Fatalf("summary of the summary too long: %q", again)
		}
	})
}
