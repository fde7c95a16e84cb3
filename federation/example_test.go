package federation_test

import (
	"errors"
	"log"
	"net/http"

	"github.com/example/sso/federation"
)

// The hub's adapter, in outline: a button per provider links to
// /oauth2/start/<id>?rd=…; the callback mints a session or shows a page.
func Example() {
	f, err := federation.New(federation.Options{
		Providers: []federation.Provider{{
			ID: "google", Name: "Google", Issuer: "https://accounts.google.com",
			ClientID: "1234.apps.googleusercontent.com", ClientSecret: "…",
			RedirectURL: "https://login.example.com" + federation.CallbackPath("google"),
			UserClaim:   "email", AllowedEmailDomains: []string{"example.com"},
		}},
		Keys:          [][]byte{[]byte("0123456789abcdef0123456789abcdef")}, // the decoded SSO_SECRET_KEYS
		Secure:        true,
		AllowRedirect: func(host string) bool { return host == "app.example.com" },
	})
	if err != nil {
		log.Fatal(err) // names the provider and the field
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/start/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := f.Start(w, r, r.PathValue("id"), r.FormValue("rd")); err != nil {
			log.Print(err)
			http.Error(w, http.StatusText(federation.Status(err)), federation.Status(err))
		}
	})
	mux.HandleFunc("GET /oauth2/callback/{id}", func(w http.ResponseWriter, r *http.Request) {
		ident, rd, err := f.Callback(w, r, r.PathValue("id"))
		if err != nil {
			log.Print(err)
			msg := http.StatusText(federation.Status(err))
			var d *federation.DeniedError
			if errors.As(err, &d) {
				msg = d.Reason
			}
			http.Error(w, msg, federation.Status(err)) // no session
			return
		}
		_ = ident // mint the session: user ident.User, source "oidc:" + ident.Provider
		if rd == "" {
			rd = "/"
		}
		http.Redirect(w, r, rd, http.StatusFound)
	})
	_ = mux
}
