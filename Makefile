# make test   installs the Debian packages the tests need when missing, then
#             runs gofmt, go vet, staticcheck and every test (race detector
#             on), Redis, nginx and browser tests included.
# make check  the same; the one command to run before pushing.
GO       ?= go
FUZZTIME ?= 30s
PKGS     := ./...

# Integration tests skip when a tool is missing; here they must run.
export SSO_REQUIRE_REDIS := 1
export SSO_REQUIRE_NGINX := 1
export SSO_REQUIRE_TOOLS := 1
export SSO_REQUIRE_CHROMIUM := 1

.PHONY: test check deps lint unit e2e fuzz run build bench bench-smoke soak demo

test: deps lint unit e2e bench-smoke

check: test

deps:
	@scripts/install-deps.sh

# The load run (bench/) builds only with its tag: vet it too, so that it
# cannot rot unseen.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags bench ./bench/
	$(GO) tool staticcheck $(PKGS)

unit:
	$(GO) test -race -shuffle=on -timeout 15m $(PKGS)

e2e: deps
	$(GO) test -race -tags e2e -count=1 -timeout 15m ./e2e/...
	$(GO) test -race -tags e2e -count=1 -timeout 10m -run '^TestDemoBrowser$$' ./demo/

# Each fuzz target for FUZZTIME; seeds live in testdata/fuzz.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

run:
	$(GO) run ./cmd/sso

# The whole stack without Docker: sso (Redis when installed), demoapi and
# nginx on https://{login,app,api}.example.test:$(DEMO_PORT) with a dev CA;
# prints the URLs and the browser line, runs until Ctrl-C (cmd/sso-demo).
DEMO_PORT ?= 8443
demo:
	$(GO) run ./cmd/sso-demo --port $(DEMO_PORT)

# The version sso --version prints: git describe in a clone, the VERSION
# file in a tarball.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || cat VERSION 2>/dev/null || echo devel)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/sso ./cmd/sso

# Go benchmarks of the hot paths (/auth, origin checks, cookie decoding),
# then the load run (bench/, docs/PERFORMANCE.md): every /auth case of
# issue 10 with wrk at 32 and 64 connections, cache on and off, directly
# and through nginx, as ratios against baselines of the same alternating
# rounds (bare Gin, Gin + one go-redis GET, nginx auth_request to a bare Go
# handler), the server side pinned to CPU 0 and wrk to CPU 1; plus sso's
# memory per 10k sessions and Redis's per session. It skips, saying why,
# without wrk, nginx or redis-server. SSO_BENCH_DURATION (default 3s) and
# SSO_BENCH_ROUNDS (default 3) set its length: about 6 minutes.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./authz/ ./cors/ ./ticket/ ./cookiedomain/
	$(GO) test -tags bench -run '^TestLoad$$' -count=1 -v -timeout 20m ./bench/

# make bench in a reduced form, so that it cannot rot unseen: each Go
# benchmark 100 times, the load run with one round of 1s wrk runs and 200
# logins, and the many-sessions run with 2000 sessions.
bench-smoke: deps
	$(GO) test -run '^$$' -bench . -benchtime 100x ./authz/ ./cors/ ./ticket/ ./cookiedomain/
	# The allocation bounds skip under -race (unit): they run here, without it.
	$(GO) test -count=1 -run '^TestAuthAllocations$$' ./authz/
	SSO_BENCH_DURATION=1s SSO_BENCH_ROUNDS=1 SSO_BENCH_SESSIONS=200 SSO_BENCH_MILLION=2000 \
	  $(GO) test -tags bench -run '^(TestLoad|TestMillion)$$' -count=1 -timeout 10m ./bench/

# A million sessions in Redis (bench/, TestMillion): Redis's memory per
# session and per user index, sso's resident memory after /auth over a
# sample of them. SSO_BENCH_MILLION=<count> for another size.
.PHONY: bench-million
bench-million:
	SSO_BENCH_MILLION=$${SSO_BENCH_MILLION:-1} $(GO) test -tags bench -run '^TestMillion$$' -count=1 -v -timeout 20m ./bench/

# The soak at length (soak/, TestSoak): SSO_SOAK_CLIENTS clients (default
# 50) for SSO_SOAK_DURATION (default 60s) log in, call /auth and log out
# through two sso instances on one Redis (AOF, appendfsync always), which is
# killed a third of the way through and started again on its port. It
# prints its counts and fails on a wrong 200, a lost session or a hang.
# make test runs it for 6s with 8 clients, with the Sentinel and Cluster
# failover tests.
soak:
	SSO_SOAK_CLIENTS=$${SSO_SOAK_CLIENTS:-50} SSO_SOAK_DURATION=$${SSO_SOAK_DURATION:-60s} \
	  $(GO) test -run '^TestSoak$$' -count=1 -v -timeout 15m ./soak/
