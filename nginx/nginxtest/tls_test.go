package nginxtest_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/example/sso/nginx/nginxtest"
)

func TestNewTLS(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	c, err := nginxtest.NewTLS(now, time.Hour, "*.example.test", "example.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		at   time.Time
		ok   bool
	}{
		{"app.example.test", now.Add(time.Minute), true},
		{"example.test", now.Add(time.Minute), true},
		{"127.0.0.1", now.Add(time.Minute), true},
		{"a.b.example.test", now.Add(time.Minute), false}, // wildcard covers one label
		{"example.com", now.Add(time.Minute), false},
		{"app.example.test", now.Add(2 * time.Hour), false}, // expired
	}
	for _, tc := range tests {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: tc.host, Roots: c.Pool, CurrentTime: tc.at})
		if (err == nil) != tc.ok {
			t.Errorf("Verify(%q at %v) = %v, want ok=%v", tc.host, tc.at, err, tc.ok)
		}
	}
	if _, err := nginxtest.NewTLS(now, time.Hour); err == nil {
		t.Errorf("NewTLS() with no hosts = nil error, want one")
	}
}
