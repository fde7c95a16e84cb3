package login

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/session"
	"github.com/example/sso/ticket"
	"github.com/example/sso/users"
)

func TestIPKey(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"192.0.2.1", "ip:192.0.2.1"},
		{"::ffff:192.0.2.1", "ip:192.0.2.1"}, // the same client over a dual-stack socket
		{"2001:db8:1:2:3:4:5:6", "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2::", "ip:2001:db8:1:2::/64"},
		{"fe80::1%eth0", "ip:fe80::/64"},
		{"::1", "ip:::/64"},
		{"", "ip:"},
		{"not an ip", "ip:not an ip"},
	}
	for _, tc := range tests {
		if got := ipKey(tc.ip); got != tc.want {
			t.Errorf("ipKey(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func TestUserKey(t *testing.T) {
	key := []byte("limiter key limiter key limiter!")
	k := userKey(key, "Alice@Example.test")
	if !strings.HasPrefix(k, "u:") || len(k) != 2+64 || strings.Contains(strings.ToLower(k), "alice") {
		t.Errorf("userKey(%q) = %q, want u: and a hex MAC without the name", "Alice@Example.test", k)
	}
	for _, same := range []string{"alice@example.test", "  ALICE@EXAMPLE.TEST\t"} {
		if got := userKey(key, same); got != k {
			t.Errorf("userKey(%q) = %q, want %q (case and blanks do not count)", same, got, k)
		}
	}
	if userKey(key, "alice") == userKey(key, "alice2") {
		t.Error("userKey gives two names one key")
	}
	if userKey([]byte("another key another key another!"), "Alice@Example.test") == k {
		t.Error("userKey does not depend on the key: a store dump could be checked against a list of names")
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		wait time.Duration
		want string
	}{
		{time.Millisecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Nanosecond, "2"},
		{299500 * time.Millisecond, "300"},
		{5 * time.Minute, "300"},
		{24 * time.Hour, "86400"},
		{math.MaxInt64, "86400"}, // a ban without end: capped at a day
	}
	for _, tc := range tests {
		if got := strconv.FormatInt((&BlockedError{Wait: tc.wait}).RetryAfter(), 10); got != tc.want {
			t.Errorf("retryAfter(%v) = %q, want %q", tc.wait, got, tc.want)
		}
	}
}

// FuzzDeviceCookie: no value panics the parser, and a value vouches only
// for the logins it was issued for (the seeds: alice's name and email;
// forging a MAC is out of a fuzzer's reach). Fuzz workers each issue their
// own seed value; the fixed secret makes every one of them valid in all.
func FuzzDeviceCookie(f *testing.F) {
	cookies, err := cookiedomain.New(cookiedomain.Config{Domains: []string{"example.test"}, Name: "s", Secure: true, SameSite: http.SameSiteLaxMode})
	if err != nil {
		f.Fatal(err)
	}
	codec, err := ticket.New("s", [][]byte{make([]byte, 32)})
	if err != nil {
		f.Fatal(err)
	}
	p, err := New(Options{Cookies: cookies, Codec: codec, Sessions: nopStore{}, Secret: make([]byte, 32), SessionIdle: time.Hour, SessionMax: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	issued := p.deviceCookie(users.User{Name: "alice", Email: "alice@example.test"}).Value
	f.Add(issued, "alice")
	f.Add(issued, "ALICE@example.test ")
	f.Add("a.1.b", "alice")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, v, login string) {
		key := p.deviceKeyFor(v, login)
		if key == "" {
			return
		}
		if n := strings.ToLower(strings.TrimSpace(login)); n != "alice" && n != "alice@example.test" {
			t.Fatalf("alice's device cookie vouches for %q", login)
		}
	})
}

// nopStore is a session.Store that the fuzz target never calls.
type nopStore struct{ session.Store }
