package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/example/sso/authz"
	"github.com/example/sso/config"
	"github.com/example/sso/users"
)

// The users file is also what /auth looks users up in.
var _ authz.Directory = (*users.File)(nil)

// App is the wired service: everything built from one configuration.
type App struct {
	Config  config.Config
	Log     *slog.Logger
	Handler http.Handler
	// Banner is dev mode's start-up banner (with the demo password); "" otherwise.
	Banner string
	// Users is the users file, watched and reloaded on SIGHUP while
	// serving; nil in dev mode without SSO_USERS_FILE.
	Users   *users.File
	closers []func() error
}

// Close releases what the assembly opened (store clients, the auth cache's
// subscription), last opened first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.Log.Warn("close", "err", err)
		}
	}
	a.closers = nil
}

// Serve serves on ln until ctx ends, and meanwhile watches the users file
// and reloads it on each signal from hup.
func (a *App) Serve(ctx context.Context, ln net.Listener, hup <-chan os.Signal) error {
	// The watcher and the SIGHUP handler end before Serve returns, so
	// before the store they may write to is closed.
	bgCtx, stopBg := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() {
		stopBg()
		bg.Wait()
	}()
	bg.Go(func() { a.reloadOnSignal(bgCtx, hup) })
	if a.Users != nil {
		bg.Go(func() {
			if err := a.Users.Watch(bgCtx); err != nil {
				a.Log.Warn("the users file is not watched; send SIGHUP after changing it", "err", err)
			}
		})
	}

	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.Log.Info("sso shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// reloadOnSignal re-reads the users file on each signal from hup until ctx
// ends. A SIGHUP never stops sso, users file or not.
func (a *App) reloadOnSignal(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if a.Users == nil {
			a.Log.Info("SIGHUP: no users file to reload (SSO_USERS_FILE is not set)")
			continue
		}
		a.Log.Info("SIGHUP: reloading the users file", "path", a.Users.Path())
		_ = a.Users.Reload() // it logs what it did, or why it refused
	}
}

// WithBoundPort replaces port 0 in SSO_LISTEN, and in a login URL that dev
// mode derived from it ("http://login.example.test:0"), with the port bound,
// which the browser, the CORS policy, the JWT issuer and the banner need.
func WithBoundPort(cfg config.Config, addr net.Addr) config.Config {
	_, port, err := net.SplitHostPort(cfg.Listen)
	tcp, ok := addr.(*net.TCPAddr)
	if err != nil || port != "0" || !ok {
		return cfg
	}
	cfg.Listen = addr.String()
	if cfg.Source("SSO_LOGIN_URL") != "derived" || !strings.HasSuffix(cfg.LoginURL, ":0") {
		return cfg
	}
	old := cfg.LoginURL
	cfg.LoginURL = strings.TrimSuffix(old, ":0") + ":" + strconv.Itoa(tcp.Port)
	if cfg.JWTIssuer == old {
		cfg.JWTIssuer = cfg.LoginURL
	}
	// OIDC callbacks were derived from the login URL too.
	providers := slices.Clone(cfg.OIDCProviders)
	for i := range providers {
		if rest, ok := strings.CutPrefix(providers[i].RedirectURL, old); ok {
			providers[i].RedirectURL = cfg.LoginURL + rest
		}
	}
	cfg.OIDCProviders = providers
	notes := make([]string, len(cfg.Notes))
	for i, n := range cfg.Notes {
		notes[i] = strings.ReplaceAll(n, old, cfg.LoginURL)
	}
	cfg.Notes = notes
	return cfg
}

func devBanner(cfg config.Config, password string) string {
	var b strings.Builder
	line := strings.Repeat("=", 72)
	fmt.Fprintln(&b, line)
	fmt.Fprintln(&b, "  sso is running in DEV MODE (SSO_COOKIE_DOMAINS is not set)")
	fmt.Fprintln(&b, "  - cookie domain "+config.DevDomain+", cookies over plain HTTP, in-memory store unless SSO_REDIS_URL is set")
	fmt.Fprintln(&b, "  - secret keys are generated: sessions end when sso stops")
	if password != "" {
		fmt.Fprintln(&b, "  - demo user:  demo  /  "+password+"   (printed once)")
	}
	fmt.Fprintln(&b, "  Point a browser at it: add to /etc/hosts")
	fmt.Fprintln(&b, "      127.0.0.1 login."+config.DevDomain+" app."+config.DevDomain+" api."+config.DevDomain)
	fmt.Fprintln(&b, "  and open "+cfg.LoginURL+"/login")
	_, port, _ := net.SplitHostPort(cfg.Listen)
	fmt.Fprintf(&b, "  Or with curl: curl --resolve login.%s:%s:127.0.0.1 %s/api/session ...\n", config.DevDomain, port, cfg.LoginURL)
	fmt.Fprintln(&b, "  Do not use dev mode in production.")
	fmt.Fprintln(&b, line)
	return b.String()
}
