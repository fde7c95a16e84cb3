package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"golang.org/x/term"

	"github.com/example/sso/users"
)

// command is one subcommand: one entry of the table below.
type command struct {
	name     string
	summary  string // one line, for sso --help
	synopsis string // the usage line of sso <name> -h
	details  string // more of sso <name> -h, before the examples
	examples []string
	run      func(ctx context.Context, std stdio, args []string) error
}

// commands is the table of subcommands, in the order sso --help lists
// them. A function, not a variable: help's entry refers back to it.
func commands() []command {
	return []command{
		{
			name:     "serve",
			summary:  "run the service (the default when no command is given)",
			synopsis: "sso [serve] [flags]",
			examples: []string{
				"go run ./cmd/sso                     # dev mode on 127.0.0.1:8080, demo user, in-memory store",
				"SSO_COOKIE_DOMAINS=example.com SSO_SECRET_KEYS=$(head -c 32 /dev/urandom | base64) \\\n    SSO_USERS_FILE=users.yaml sso serve --listen 127.0.0.1:9091",
			},
			run: runServe,
		},
		{
			name:     "doctor",
			summary:  "check the configuration serve would start with; explain whether a browser sends the cookie and accepts CORS",
			synopsis: "sso doctor [--json] [--from URL --to URL [--method M] [--header 'Name: value']... [--credentials MODE] [--probe [--probe-user U] [--probe-ca FILE] [--probe-connect HOST:PORT]]] [serve flags]",
			details:  doctorDetails,
			examples: []string{
				"sso doctor --from https://app.example.com/ --to https://api.example.com/items --method PUT",
				"sso doctor --json | jq '.checks[] | select(.ok | not)'",
			},
			run: runDoctor,
		},
		{
			name:     "hash-password",
			summary:  "read a password (prompt or stdin), print an argon2id hash for the users file",
			synopsis: "sso hash-password",
			details:  "The password comes from a prompt (twice, not echoed) on a terminal, or from\nthe first line of standard input, never from the command line.\n",
			examples: []string{"printf '%s\\n' \"$PW\" | sso hash-password"},
			run:      hashPassword,
		},
		{
			name:     "nginx",
			summary:  "render nginx's vhosts and auth snippet for your domain and name=upstream sites",
			synopsis: "sso nginx --domain D --cert F --key F --out DIR --site name=upstream[?group=g]...",
			examples: []string{
				"sso nginx --domain example.com --cert /etc/ssl/example.pem --key /etc/ssl/example.key --out /etc/nginx \\\n    --site app=/srv/app --site api=http://127.0.0.1:9000 --site admin=http://127.0.0.1:9001?group=admins",
			},
			run: func(_ context.Context, std stdio, args []string) error { return nginxCmd(args, std.stdout, std.stderr) },
		},
		{
			name:     "version",
			summary:  "print the version (also: sso --version)",
			synopsis: "sso version",
			examples: []string{"sso --version"},
			run:      runVersion,
		},
		{
			name:     "help",
			summary:  "print this help, or a command's: sso help doctor",
			synopsis: "sso help [command]",
			run:      runHelp,
		},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// parseFlags parses a command's own flags. -h prints its usage on stdout
// and returns flag.ErrHelp (the caller returns nil: exit 0); a bad flag
// prints the error and the usage on stderr and returns errUsage (exit 2).
func parseFlags(fs *flag.FlagSet, c command, std stdio, args []string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(std.stdout, commandUsage(c)+flagDefaults(fs))
		return flag.ErrHelp
	case err != nil:
		fmt.Fprintf(std.stderr, "sso %s: %v\n\n%s", c.name, err, commandUsage(c)+flagDefaults(fs))
		return errUsage
	}
	return nil
}

func flagDefaults(fs *flag.FlagSet) string {
	var b strings.Builder
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return ""
	}
	b.WriteString("\nflags:\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

func runHelp(_ context.Context, std stdio, args []string) error {
	c, _ := lookup("help")
	fs := flag.NewFlagSet("help", flag.ContinueOnError)
	if err := parseFlags(fs, c, std, args); err != nil {
		return ignoreHelp(err)
	}
	if fs.NArg() == 0 {
		fmt.Fprint(std.stdout, usage())
		return nil
	}
	// sso help doctor is sso doctor -h.
	if _, ok := lookup(fs.Arg(0)); !ok {
		fmt.Fprintf(std.stderr, "sso: unknown command %q\n\n%s", fs.Arg(0), usage())
		return errUsage
	}
	c, _ = lookup(fs.Arg(0))
	return c.run(context.Background(), std, []string{"-h"})
}

// ignoreHelp turns flag.ErrHelp (usage printed, as asked) into success.
func ignoreHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func runVersion(_ context.Context, std stdio, args []string) error {
	c, _ := lookup("version")
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parseFlags(fs, c, std, args); err != nil {
		return ignoreHelp(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(std.stderr, "sso version takes no arguments\n\n%s", commandUsage(c))
		return errUsage
	}
	fmt.Fprintln(std.stdout, "sso", buildVersion())
	return nil
}

// hashPassword prints an argon2id hash for the users file. The password comes
// from a prompt (twice, not echoed) on a terminal, or from the first line of
// standard input otherwise, so that scripts can pipe it in.
func hashPassword(ctx context.Context, std stdio, args []string) error {
	c, _ := lookup("hash-password")
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	if err := parseFlags(fs, c, std, args); err != nil {
		return ignoreHelp(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(std.stderr, "sso hash-password takes no arguments: it reads the password from a prompt or standard input, never from the command line (shell history)")
		return errUsage
	}
	stdin, stderr := std.stdin, std.stderr
	var pw string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(stderr, "Password: ")
		a, err := readPassword(ctx, fd, term.ReadPassword)
		fmt.Fprintln(stderr)
		if err != nil {
			return fmt.Errorf("hash-password: read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := readPassword(ctx, fd, term.ReadPassword)
		fmt.Fprintln(stderr)
		if err != nil {
			return fmt.Errorf("hash-password: read password: %w", err)
		}
		if string(a) != string(b) {
			return errors.New("hash-password: the passwords differ")
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("hash-password: read standard input: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if pw == "" {
		return errors.New("hash-password: the password is empty")
	}
	h, err := users.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("hash-password: %w", err)
	}
	fmt.Fprintln(std.stdout, h)
	return nil
}

// readPassword reads a password from the terminal fd with read (which turns
// echo off) until ctx ends. main turns Ctrl-C into ctx's end for every
// command, so without this the prompt ignored Ctrl-C; on it the terminal's
// echo is restored and the read abandoned (the process is about to exit).
func readPassword(ctx context.Context, fd int, read func(int) ([]byte, error)) ([]byte, error) {
	state, _ := term.GetState(fd)
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := read(fd)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		if state != nil {
			_ = term.Restore(fd, state)
		}
		return nil, errors.New("interrupted")
	}
}

// version is stamped at build time: make build passes
// -ldflags "-X main.version=$(git describe --always --dirty)".
var version string

// buildVersion is the stamped version or, without one (go run, go build),
// "devel" with what Go recorded in the binary: the module version and the
// VCS revision when there are any.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return develVersion(bi)
}

func develVersion(bi *debug.BuildInfo) string {
	var parts []string
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		parts = append(parts, v)
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified == "true" {
			rev += "-dirty"
		}
		parts = append(parts, "vcs "+rev)
	}
	if bi.GoVersion != "" {
		parts = append(parts, bi.GoVersion)
	}
	if len(parts) == 0 {
		return "devel"
	}
	return "devel (" + strings.Join(parts, ", ") + ")"
}
