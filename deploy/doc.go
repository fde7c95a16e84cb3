// Package deploy holds the Docker Compose demo (compose.yaml, Dockerfile,
// the demo page and users) and no library code. Its tests load compose.yaml
// with compose-go and check it against the nginx templates, so the demo
// cannot drift from the configuration the integration tests exercise.
//
// Usage:
//
//	go run ./deploy/gencert
//	cp deploy/.env.example deploy/.env # then set SSO_SECRET_KEYS, SSO_DOMAIN, …
//	docker compose -f deploy/compose.yaml up --build
package deploy
