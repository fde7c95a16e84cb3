// Command demoapi is the protected API of the compose demo. It trusts the
// X-Auth-* headers that nginx sets from sso's /auth answer, so it must
// listen only where nginx alone can reach it (a private network, loopback):
// anyone who can reach it directly can claim to be anyone.
//
//	demoapi -listen 127.0.0.1:9090   # or DEMOAPI_LISTEN
//
// GET /me answers {"user","email","groups"}; PUT /items/{id} echoes
// {"id","by","body"}; everything else is a 404 JSON error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, when not nil, receives the bound address.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("demoapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := getenv("DEMOAPI_LISTEN")
	if def == "" {
		def = "127.0.0.1:9090"
	}
	listen := fs.String("listen", def, "listen address (env DEMOAPI_LISTEN); reachable by nginx only")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("demoapi: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("demoapi: %w", err)
	}
	srv := &http.Server{
		Handler:           handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	log.Info("demoapi listening", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("demoapi: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("demoapi: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("demoapi: %w", err)
	}
	return nil
}

// handler serves the API. Identity comes from X-Auth-User/-Email/-Groups,
// set by nginx from sso; a request without X-Auth-User gets 401 even though
// nginx should never let one through (defence in depth).
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"user":   r.Header.Get("X-Auth-User"),
			"email":  r.Header.Get("X-Auth-Email"),
			"groups": groups(r.Header.Get("X-Auth-Groups")),
		})
	})
	mux.HandleFunc("PUT /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		var body any
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, "bad_request", "body is not JSON")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "by": r.Header.Get("X-Auth-User"), "body": body})
	})
	// The catch-all also takes wrong methods (POST /me): one JSON 404.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Auth-User") == "" {
			writeError(w, http.StatusUnauthorized, "unauthorized", "no identity from the proxy")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func groups(s string) []string {
	out := []string{}
	for g := range strings.SplitSeq(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
