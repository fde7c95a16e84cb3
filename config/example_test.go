package config_test

import (
	"fmt"

	"github.com/example/sso/config"
)

func ExampleLoad() {
	env := map[string]string{"SSO_LISTEN": ":9000"}
	cfg, err := config.Load([]string{"--session-idle=30m"}, func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.DevMode, cfg.CookieDomains, cfg.CookieSecure, cfg.SessionIdle)
	fmt.Println(cfg.LoginURL)
	// Output:
	// true [example.test] false 30m0s
	// http://login.example.test:9000
}

func ExampleLoad_errors() {
	env := map[string]string{
		"SSO_COOKIE_DOMAINS":  "example.com",
		"SSO_COOKIE_SAMESITE": "sideways",
		"SSO_SECRET_KEYS":     "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
		"SSO_REDIS_URL":       "redis://app:hunter2@redis:6379/x",
	}
	_, err := config.Load([]string{"--users-file=/nonexistent/users.yaml"}, func(k string) string { return env[k] })
	fmt.Println(err)
	// Output:
	// SSO_COOKIE_SAMESITE="sideways": must be one of lax, strict, none
	// SSO_REDIS_URL="redis://app:***@redis:6379/x": path must be a database number such as /0
	// SSO_USERS_FILE="/nonexistent/users.yaml" (from flag --users-file): cannot be opened: no such file or directory
}
