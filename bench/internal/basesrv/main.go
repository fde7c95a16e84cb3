// Command basesrv is the load run's baselines (bench/, make bench), each a
// process of its own so that it can be pinned to the CPU sso gets:
//
//	BASESRV_MODE=gin      Gin answering 200 with one identity header: the
//	                      floor of any Gin handler, /auth included
//	BASESRV_MODE=gin-get  the same after one go-redis GET (BASESRV_REDIS):
//	                      the floor of an /auth that reads Redis
//	BASESRV_MODE=http     net/http answering 200 with the identity headers:
//	                      the auth_request upstream nginx is measured with
//
// It listens on BASESRV_LISTEN (default 127.0.0.1:0) and logs
// `msg="basesrv listening" addr=…` as sso does.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("basesrv", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	h, err := handler(os.Getenv("BASESRV_MODE"), os.Getenv("BASESRV_REDIS"))
	if err != nil {
		return err
	}
	addr := os.Getenv("BASESRV_LISTEN")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("BASESRV_LISTEN=%q: %w", addr, err)
	}
	log.Info("basesrv listening", "addr", ln.Addr().String())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// key is what gin-get reads: a value of about a compact session record's
// size, written at start-up.
const key = "basesrv:session"

func handler(mode, redisURL string) (http.Handler, error) {
	identity := func(h http.Header) {
		h["X-Auth-User"] = []string{"bench"}
		h["X-Auth-Email"] = []string{"bench@example.test"}
		h["X-Auth-Groups"] = []string{"dev"}
	}
	switch mode {
	case "http":
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			identity(w.Header())
			w.WriteHeader(http.StatusOK)
		}), nil
	case "gin", "gin-get":
	default:
		return nil, fmt.Errorf("BASESRV_MODE=%q: want gin, gin-get or http", mode)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if mode == "gin" {
		r.GET("/auth", func(c *gin.Context) {
			identity(c.Writer.Header())
			c.Status(http.StatusOK)
		})
		return r, nil
	}
	if redisURL == "" {
		return nil, errors.New("BASESRV_REDIS is not set: gin-get needs a Redis URL")
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("BASESRV_REDIS: %w", err)
	}
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Set(ctx, key, make([]byte, 280), time.Hour).Err(); err != nil {
		return nil, fmt.Errorf("BASESRV_REDIS: SET: %w", err)
	}
	r.GET("/auth", func(c *gin.Context) {
		if _, err := client.Get(c.Request.Context(), key).Bytes(); err != nil {
			c.Status(http.StatusServiceUnavailable)
			return
		}
		identity(c.Writer.Header())
		c.Status(http.StatusOK)
	})
	return r, nil
}
