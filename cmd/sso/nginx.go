package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/example/sso/nginx"
)

// nginxCmd renders the nginx configuration for a domain and a list of
// name=upstream sites (nginx.RenderSites) into a directory laid out as
// /etc/nginx: conf.d/*.conf and snippets/*.conf.
func nginxCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sso nginx", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sites []nginx.Site
	fs.Func("site", "a protected host: name=upstream[?group=g1&group=g2][&factor=2[&max_age=10m]]; upstream is http://host:port or an absolute directory (repeatable)", func(s string) error {
		site, err := nginx.ParseSite(s)
		if err == nil {
			sites = append(sites, site)
		}
		return err
	})
	var c nginx.SitesConfig
	fs.StringVar(&c.Domain, "domain", "", "parent domain, sso's SSO_COOKIE_DOMAINS (required)")
	fs.StringVar(&c.SSOUpstream, "sso", "127.0.0.1:8080", "sso's host:port as nginx reaches it")
	fs.StringVar(&c.TLSCert, "cert", "", "PEM certificate chain for *.<domain> or every host (absolute path, required)")
	fs.StringVar(&c.TLSKey, "key", "", "its PEM private key (absolute path, required)")
	fs.StringVar(&c.ListenAddr, "listen", "0.0.0.0", "IP address to listen on")
	fs.IntVar(&c.HTTPSPort, "https-port", 443, "https port")
	fs.IntVar(&c.HTTPPort, "http-port", 80, "plain-http port that redirects to https; 0: none")
	fs.StringVar(&c.CookieName, "cookie-name", "sso_session", "sso's SSO_COOKIE_NAME, kept from the upstreams")
	fs.StringVar(&c.Hub, "hub", "login", "the login hub's label: login.<domain>")
	out := fs.String("out", "", "directory to write conf.d/ and snippets/ into, e.g. /etc/nginx (required)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: sso nginx --domain D --cert FILE --key FILE --out DIR --site name=upstream[?group=g]... [flags]

Renders nginx's configuration for sso on your own domain: the login hub and
one protected vhost per --site, each asking sso's /auth (with ?group= when
given) before anything reaches its upstream. Include DIR/conf.d/*.conf in
http{}. The snippets are written to DIR/snippets/ but included as
"snippets/*.conf", which nginx resolves against its prefix (usually
/etc/nginx): use --out /etc/nginx, or start nginx with -p DIR. Example:

  sso nginx --domain example.com --out /etc/nginx \
    --cert /etc/letsencrypt/live/example.com/fullchain.pem \
    --key /etc/letsencrypt/live/example.com/privkey.pem \
    --site api=http://127.0.0.1:9000 \
    --site 'admin=http://10.0.0.5:8080?group=admins' \
    --site app=/srv/app

`)
		fs.PrintDefaults()
	}
	// Asked-for help goes to stdout and exits 0; a bad flag's to stderr,
	// as "sso nginx: <error>" then the usage (flag's own line has no
	// prefix, so Parse writes nowhere).
	help := false
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			help = true
		}
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) || help {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil
		}
		fs.SetOutput(stderr)
		fmt.Fprintf(stderr, "sso nginx: %v\n", err)
		fs.Usage()
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sso nginx: unexpected argument %q (sites are given with --site)\n", fs.Arg(0))
		return errUsage
	}
	if *out == "" {
		return errors.New("nginx: --out: name the directory to write into, e.g. /etc/nginx")
	}
	c.Sites = sites
	if err := nginx.InstallSites(*out, c); err != nil {
		return err
	}
	files, err := nginx.RenderSites(c)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, filepath.Join(*out, "conf.d", name))
	}
	slices.Sort(names)
	fmt.Fprintf(stdout, "wrote %s and %s\n", strings.Join(names, ", "), filepath.Join(*out, "snippets", "*.conf"))
	fmt.Fprintf(stdout, "include %s inside http{}, then: nginx -t && nginx -s reload\n", filepath.Join(*out, "conf.d", "*.conf"))
	return nil
}
