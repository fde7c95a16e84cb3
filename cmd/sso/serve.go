package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/example/sso/config"
	"github.com/example/sso/internal/app"
)

func runServe(ctx context.Context, std stdio, args []string) error {
	return serve(ctx, args, std.getenv, std.stdout, std.stderr, nil)
}

func serveUsage() string {
	c, _ := lookup("serve")
	return commandUsage(c) + "\n" + config.Usage()
}

// loadConfig is config.Load with the command line's answers: -h prints
// usage (flag.ErrHelp), a bad flag prints the error and usage on stderr
// (errUsage). Any other error is the configuration's, for app.Assemble.
func loadConfig(args []string, getenv func(string) string, usage string, stdout, stderr io.Writer) (config.Config, error, error) {
	cfg, err := config.Load(args, getenv)
	var ue *config.UsageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return cfg, nil, flag.ErrHelp
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "sso: %v\n\n%s", err, usage)
		return cfg, nil, errUsage
	}
	return cfg, err, nil
}

// serve loads the configuration, builds the service, listens and serves until
// ctx ends. onListen, when set, is told the bound address (tests use :0).
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, onListen func(net.Addr)) error {
	cfg, loadErr, err := loadConfig(args, getenv, serveUsage(), stdout, stderr)
	if err != nil {
		return ignoreHelp(err)
	}
	opt := app.Options{Log: stderr, Version: buildVersion()}
	if loadErr != nil {
		// Assemble orders the refusals, most fundamental first, and adds
		// those of the constructors for the settings Load accepted; what
		// it logs on the way would only bury them.
		opt.Log = nil
		return app.Assemble(ctx, cfg, loadErr, opt).Err()
	}
	// SIGHUP re-reads the users file. Asked for before anything slow, so
	// that a SIGHUP during start-up waits for serving instead of killing
	// the process (its default action); scoped to serve, so that tests can
	// run serve in-process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Listen before building, so that a taken port fails here,
	// synchronously, and so that a login URL derived from SSO_LISTEN gets
	// the port actually bound when that is 0.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("SSO_LISTEN=%q: %w", cfg.Listen, err)
	}
	cfg = app.WithBoundPort(cfg, ln.Addr())
	res := app.Assemble(ctx, cfg, nil, opt)
	if res.App == nil {
		_ = ln.Close()
		return res.Err()
	}
	a := res.App
	defer a.Close()
	if a.Banner != "" {
		fmt.Fprint(stderr, a.Banner)
	}
	a.Log.Info("sso listening", "addr", ln.Addr().String(), "version", buildVersion(), "login_url", cfg.LoginURL, "cookie_domains", cfg.CookieDomains)
	if onListen != nil {
		onListen(ln.Addr())
	}
	return a.Serve(ctx, ln, hup)
}
