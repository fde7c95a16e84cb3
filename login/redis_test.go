package login_test

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/login"
	"github.com/example/sso/session/redisstore"
	"github.com/example/sso/users"
)

// Two instances on one Redis share the regulation: failures through one
// ban the login at the other, and a device cookie one issued vouches at
// the other (both derive their keys from the same secret).
func TestRegulationSharedOverRedis(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testredis.Start(t)})
	t.Cleanup(func() { _ = c.Close() })
	st := redisstore.New(c, redisstore.Options{})
	instance := func() *login.Pipeline {
		return newFixture(t, func(o *login.Options) { o.Sessions, o.Limiter = st, st }).p
	}
	a, b := instance(), instance()
	ctx := context.Background()

	owner, err := a.Password(ctx, req, "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	for range reg.MaxRetries {
		if _, err := a.Password(ctx, req, "alice", "wrong"); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("wrong password at a: %v", err)
		}
	}
	var be *login.BlockedError
	if _, err := b.Password(ctx, req, "alice", password); !errors.As(err, &be) {
		t.Fatalf("at b after %d failures at a: %v, want blocked", reg.MaxRetries, err)
	}
	dev := req
	dev.DeviceCookies = []string{owner.Cookies[0].Value}
	res, err := b.Password(ctx, dev, "alice", password)
	if err != nil {
		t.Fatalf("at b with the device cookie a issued: %v", err)
	}
	m, err := b.Mint(ctx, res.Identity, res.Factors, dev)
	if err != nil {
		t.Fatalf("Mint on Redis: %v", err)
	}
	got, err := st.Get(ctx, m.Session.ID)
	if err != nil || len(got.Factors) != 1 || got.Factors[0].Method != login.AMRPassword {
		t.Errorf("session read back from Redis: %+v, %v; want one pwd factor", got, err)
	}
}
