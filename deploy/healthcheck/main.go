// Command healthcheck exits 0 when a GET of its URL argument answers 2xx,
// and 1 otherwise. The distroless images have no curl or wget, so compose
// healthchecks run this instead:
//
//	healthcheck http://127.0.0.1:8080/healthz
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if err := check(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func check(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("healthcheck: usage: healthcheck URL")
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck: %s answered %s", args[0], resp.Status)
	}
	return nil
}
