// Command child is the process testproc's tests start: with "serve" it logs
// a listening line as sso does and answers /healthz until SIGINT; with
// "exit" it fails at once.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "child: giving up")
		os.Exit(3)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("  - demo user:  demo  /  s3cret-%d   (printed once)\n", os.Getpid())
	fmt.Fprintf(os.Stderr, "time=now level=INFO msg=\"child listening\" addr=%s\n", ln.Addr())
	<-ctx.Done()
	_ = srv.Close()
	fmt.Fprintln(os.Stderr, "child: stopped")
}
