package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := run([]string{"-dir", dir, "-domain", "example.test"}, io.Discard, func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"example.test", "login.example.test", "api.example.test"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, CurrentTime: now.Add(24 * time.Hour)}); err != nil {
			t.Errorf("certificate for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool, CurrentTime: now}); err == nil {
		t.Errorf("certificate verifies for example.com, want an error")
	}
	if got, want := leaf.NotAfter.Sub(leaf.NotBefore), 397*24*time.Hour; got != want {
		t.Errorf("validity = %v, want %v", got, want)
	}
	if err := run([]string{"-dir", dir, "-days", "900"}, io.Discard, time.Now); err == nil {
		t.Errorf("run(-days 900) = nil, want an error")
	}
}
