// Command sso-demo runs the whole stack on this machine without Docker
// (make demo): sso (on Redis when redis-server is installed), demoapi and
// nginx on one https port with a throwaway dev CA. It prints the URLs and
// the one line a browser needs, and runs until Ctrl-C, then stops its
// processes and removes its temporary directory. Run it from the
// repository root:
//
//	go run ./cmd/sso-demo [--port 8443] [--domain example.test]
//
// Without --sso and --demoapi it builds both with the go command first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/example/sso/demo"
)

// stopSignals end the demo the way Ctrl-C does: every process stopped, the
// directory removed. SIGHUP is the terminal closing (or the SSH session
// ending): without it the demo died with its children and left its
// directory (dev CA key, logs) behind.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sso-demo:", err)
			os.Exit(1)
		}
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sso-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt demo.Options
	fs.IntVar(&opt.Port, "port", 8443, "nginx's https port on 127.0.0.1 (0: a free one)")
	fs.StringVar(&opt.Domain, "domain", "example.test", "parent domain of login., app. and api.")
	fs.StringVar(&opt.Repo, "repo", ".", "repository root (deploy/app, deploy/users.yml)")
	fs.StringVar(&opt.SSO, "sso", "", "sso binary (default: go build ./cmd/sso)")
	fs.StringVar(&opt.DemoAPI, "demoapi", "", "demoapi binary (default: go build ./cmd/demoapi)")
	fs.StringVar(&opt.Nginx, "nginx", "", "nginx binary (default: /usr/sbin/nginx or $PATH)")
	noRedis := fs.Bool("no-redis", false, "use sso's in-memory store even when redis-server is installed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	opt, err := demo.Find(opt, !*noRedis)
	if err != nil {
		return err
	}
	if opt.SSO == "" || opt.DemoAPI == "" {
		bin, err := os.MkdirTemp("", "sso-demo-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(bin)
		fmt.Fprintln(stderr, "sso-demo: building sso and demoapi …")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./cmd/sso", "./cmd/demoapi")
		cmd.Dir, cmd.Stdout, cmd.Stderr = opt.Repo, stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build (run from the repository root, or pass --sso and --demoapi): %w", err)
		}
		if opt.SSO == "" {
			opt.SSO = filepath.Join(bin, "sso")
		}
		if opt.DemoAPI == "" {
			opt.DemoAPI = filepath.Join(bin, "demoapi")
		}
	}
	st, err := demo.Start(ctx, opt)
	if err != nil {
		return err
	}
	defer st.Stop()
	fmt.Fprint(stdout, st.Banner())
	<-ctx.Done()
	fmt.Fprintln(stderr, "sso-demo: stopping")
	return nil
}
