// Command sso is the single-sign-on service for a family of subdomains.
// sso --help lists its commands (the table in commands.go).
//
// main only parses the command line: internal/app builds the service from
// the configuration, for serve and doctor alike.
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

// Exit statuses, for scripts.
const (
	exitOK      = 0
	exitFailed  = 1 // serve refused to start or stopped; doctor: a check failed
	exitUsage   = 2 // the command line is wrong; doctor: the configuration cannot be read
	usagePrefix = "sso: "
)

// errUsage marks an error whose message, with the usage, is already on
// stderr: exit 2, print nothing more.
var errUsage = errors.New("usage")

// errConfig marks an error that keeps a command from reading the
// configuration at all (an unreadable SSO_CONFIG file): exit 2.
var errConfig = errors.New("configuration")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// go-redis logs pool errors through a package-level logger; send them
	// through slog like everything else, once, here in main.
	redis.SetLogger(redisLog{slog.New(slog.NewTextHandler(os.Stderr, nil))})
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, errUsage) {
		// One line per problem, so that a bad configuration names each
		// setting it refuses.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, usagePrefix+line)
		}
	}
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage), errors.Is(err, errConfig):
		return exitUsage
	default:
		return exitFailed
	}
}

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// io is what a command may use of the process.
type stdio struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// run dispatches to a command of the table. With no command, or flags
// first, it serves: go run ./cmd/sso is the one-command start.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	std := stdio{getenv, stdin, stdout, stderr}
	name := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			fmt.Fprint(stdout, usage())
			return nil
		case "-version", "--version":
			name, args = "version", args[1:]
		default:
			if !strings.HasPrefix(args[0], "-") {
				name, args = args[0], args[1:]
			}
		}
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "sso: unknown command %q\n\n%s", name, usage())
		return errUsage
	}
	return c.run(ctx, std, args)
}

// usage is sso --help: every command with its one-line description, then
// the examples.
func usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sso %s: one login for a family of subdomains\n\n", buildVersion())
	b.WriteString("usage: sso [command] [flags]\n\ncommands:\n")
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.name, c.summary)
	}
	b.WriteString("\nWith no command, sso serves. 'sso <command> -h' prints a command's flags.\n\nexamples:\n")
	for _, c := range commands() {
		for _, e := range c.examples {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}

// commandUsage is the head of a command's -h: synopsis, description,
// examples.
func commandUsage(c command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n\n%s\n", c.synopsis, c.summary)
	if c.details != "" {
		fmt.Fprintf(&b, "\n%s", c.details)
	}
	if len(c.examples) > 0 {
		b.WriteString("\nexamples:\n")
		for _, e := range c.examples {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}
