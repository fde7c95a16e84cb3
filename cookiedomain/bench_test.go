package cookiedomain_test

import (
	"net/http"
	"testing"

	"github.com/example/sso/cookiedomain"
)

// BenchmarkFor picks the parent domain for a request host, as every login
// and every rd check does.
func BenchmarkFor(b *testing.B) {
	p, err := cookiedomain.New(cookiedomain.Config{Domains: []string{"example.com", "corp.example.com", "example.org"}, SameSite: http.SameSiteLaxMode, Secure: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.For("App.Corp.Example.com:8443"); err != nil {
			b.Fatal(err)
		}
	}
}
