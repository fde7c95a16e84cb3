// Command sso is the single-sign-on service for a family of subdomains.
//
//	sso [serve] [flags]   run the service (the default)
//	sso hash-password     read a password, print an argon2id hash for the users file
//	sso version           print the version
//	sso nginx             render the nginx vhosts for a domain and name=upstream sites
//	sso doctor            check the configuration, and explain whether a browser
//	                      will send the cookie and accept the CORS answer
//
// main only wires: it reads the configuration, builds concrete values, passes
// them to constructors, serves and shuts down.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// go-redis logs pool errors through a package-level logger; send them
	// through slog like everything else, once, here in main.
	redis.SetLogger(redisLog{slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			// One line per problem, so that a bad configuration names each
			// setting it refuses.
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintln(os.Stderr, "sso: "+line)
			}
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, stderr, nil)
	case "doctor":
		return runDoctor(ctx, args, getenv, stdout, stderr)
	case "hash-password":
		return hashPassword(args, stdin, stdout, stderr)
	case "nginx":
		return nginxCmd(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "sso", buildVersion())
		return nil
	case "help":
		fmt.Fprint(stdout, usage())
		return nil
	default:
		fmt.Fprintf(stderr, "sso: unknown command %q\n\n%s", cmd, usage())
		return errUsage
	}
}

func usage() string {
	return `usage:
  sso [serve] [flags]   run the service (the default); sso serve -h lists every setting
  sso hash-password     read a password (stdin or prompt), print an argon2id hash for the users file
  sso version           print the version
  sso nginx [flags]     render nginx's vhosts for your domain and name=upstream sites (sso nginx -h)
  sso doctor [flags]    check the configuration; with --from URL --to URL explain whether the browser sends the cookie (sso doctor -h)
`
}
