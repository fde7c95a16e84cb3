package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"golang.org/x/term"

	"github.com/example/sso/users"
)

// hashPassword prints an argon2id hash for the users file. The password comes
// from a prompt (twice, not echoed) on a terminal, or from the first line of
// standard input otherwise, so that scripts can pipe it in.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "sso hash-password takes no arguments: it reads the password from a prompt or standard input, never from the command line (shell history)")
		return errUsage
	}
	var pw string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return fmt.Errorf("hash-password: read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
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
	fmt.Fprintln(stdout, h)
	return nil
}

// buildVersion is the -ldflags version, or the module version and VCS
// revision Go recorded in the binary.
func buildVersion() string {
	if version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	if v == "" || v == "(devel)" {
		return version
	}
	return v
}
