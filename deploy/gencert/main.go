// Command gencert writes a development CA and a certificate for a domain and
// all its subdomains, for deploy/compose.yaml. Dev only: trust ca.pem in a
// browser profile you use for testing, never system-wide on a shared machine.
//
//	go run ./deploy/gencert                      # deploy/certs, example.test
//	go run ./deploy/gencert -dir certs -domain example.test
//
// It writes ca.pem (trust this), cert.pem (leaf + CA, for nginx) and key.pem
// (mode 0600). The CA's key is not kept, so the CA can sign nothing else.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/example/sso/nginx/nginxtest"
)

func main() {
	if err := run(os.Args[1:], os.Stderr, time.Now); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer, now func() time.Time) error {
	fs := flag.NewFlagSet("gencert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", filepath.Join("deploy", "certs"), "output directory")
	domain := fs.String("domain", "example.test", "parent domain; the certificate covers it and *.domain")
	// Browsers refuse leaf certificates valid for more than 398 days.
	days := fs.Int("days", 397, "validity in days")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("gencert: %w", err)
	}
	if *days < 1 || *days > 398 {
		return fmt.Errorf("gencert: -days %d: want 1 to 398", *days)
	}
	tls, err := nginxtest.NewTLS(now().Add(-time.Hour), time.Duration(*days)*24*time.Hour, *domain, "*."+*domain)
	if err != nil {
		return fmt.Errorf("gencert: %w", err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("gencert: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"ca.pem", tls.CAPEM, 0o644},
		{"cert.pem", tls.CertPEM, 0o644},
		{"key.pem", tls.KeyPEM, 0o600}, // nginx's master reads it as root
	} {
		if err := os.WriteFile(filepath.Join(*dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("gencert: %w", err)
		}
	}
	fmt.Fprintf(stderr, "gencert: wrote %s/{ca,cert,key}.pem for %s and *.%s (dev only; trust ca.pem in a test browser profile)\n", *dir, *domain, *domain)
	return nil
}
