// Command provider is the OpenID provider of sso's tests: the example
// server of github.com/zitadel/oidc/v3 (its in-memory storage, login page
// and OP), on a loopback port of its own, with users and groups from files
// the test writes. It is built by internal/testoidc in a module of its
// own, so that sso's go.mod does not carry the provider's dependencies.
//
// Environment: USERS_FILE (the example's JSON users), GROUPS_FILE (JSON
// object: user id -> group names, sent as the "groups" claim),
// AMR_FILE (JSON object: user id -> the amr its ID tokens carry instead
// of the example's ["pwd"]), REDIRECT_URI (comma-separated, for the
// clients "web" and "web-idclaims",
// secret "secret"). It prints `testoidc listening addr=127.0.0.1:PORT`
// once it accepts connections; the issuer is http://127.0.0.1:PORT/.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// groupStore adds the "groups" claim, which the example storage lacks, to
// the userinfo answer and (for web-idclaims) the ID token.
type groupStore struct {
	*storage.Storage
	groups map[string][]string
	amr    map[string][]string
}

// amrRequest is an auth request whose ID token carries another amr.
type amrRequest struct {
	op.AuthRequest
	amr []string
}

func (r amrRequest) GetAMR() []string { return r.amr }

// AuthRequestByCode gives the users of AMR_FILE their amr: the ID token is
// made from the request the code names.
func (s *groupStore) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.Storage.AuthRequestByCode(ctx, code)
	if err != nil {
		return r, err
	}
	if amr, ok := s.amr[r.GetSubject()]; ok {
		return amrRequest{r, amr}, nil
	}
	return r, nil
}

// unwrap: the example storage recognises its own request type when it
// makes tokens.
func unwrap[T any](r T) T {
	if a, ok := any(r).(amrRequest); ok {
		if inner, ok := a.AuthRequest.(T); ok {
			return inner
		}
	}
	return r
}

func (s *groupStore) CreateAccessToken(ctx context.Context, r op.TokenRequest) (string, time.Time, error) {
	return s.Storage.CreateAccessToken(ctx, unwrap(r))
}

func (s *groupStore) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	return s.Storage.CreateAccessAndRefreshTokens(ctx, unwrap(r), current)
}

func (s *groupStore) add(info *oidc.UserInfo, subject string) {
	if g, ok := s.groups[subject]; ok {
		info.AppendClaims("groups", g)
	}
}

func (s *groupStore) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, token op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, info, token, scopes); err != nil {
		return err
	}
	s.add(info, token.GetSubject())
	return nil
}

func (s *groupStore) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin); err != nil {
		return err
	}
	s.add(info, info.Subject)
	return nil
}

// GetClientByClientID makes "web-idclaims" a web client whose ID token
// carries the user's claims, as Google's does; "web" leaves them to the
// userinfo endpoint, as many others do.
func (s *groupStore) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil || id != "web-idclaims" {
		return c, err
	}
	return idClaims{c}, nil
}

type idClaims struct{ op.Client }

func (idClaims) IDTokenUserinfoClaimsAssertion() bool { return true }

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(log); err != nil {
		fmt.Fprintln(os.Stderr, "provider:", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	users, err := storage.StoreFromFile(os.Getenv("USERS_FILE"))
	if err != nil {
		return fmt.Errorf("USERS_FILE: %w", err)
	}
	groups := map[string][]string{}
	if f := os.Getenv("GROUPS_FILE"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("GROUPS_FILE: %w", err)
		}
		if err := json.Unmarshal(data, &groups); err != nil {
			return fmt.Errorf("GROUPS_FILE: %w", err)
		}
	}
	amr := map[string][]string{}
	if f := os.Getenv("AMR_FILE"); f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("AMR_FILE: %w", err)
		}
		if err := json.Unmarshal(data, &amr); err != nil {
			return fmt.Errorf("AMR_FILE: %w", err)
		}
	}
	redirects := strings.Split(os.Getenv("REDIRECT_URI"), ",")
	storage.RegisterClients(
		storage.WebClient("web", "secret", redirects...),
		storage.WebClient("web-idclaims", "secret", redirects...),
	)
	addr := "127.0.0.1:0"
	if p := os.Getenv("PORT"); p != "" {
		addr = "127.0.0.1:" + p
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	issuer := fmt.Sprintf("http://%s/", l.Addr())
	router := exampleop.SetupServer(issuer, &groupStore{storage.NewStorage(users), groups, amr}, log, false)
	fmt.Printf("testoidc listening addr=%s\n", l.Addr())
	return http.Serve(l, router)
}
