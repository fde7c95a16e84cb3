package login

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
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
