package ldapusers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/config"
	"github.com/example/sso/internal/testldap"
	"github.com/example/sso/ldapusers"
	"github.com/example/sso/users"
)

// baseConfig is the OpenLDAP set-up of the README against the test
// directory, with the users filter that leaves out disabled accounts.
func baseConfig(s *testldap.Server) ldapusers.Config {
	return ldapusers.Config{
		Address:            s.URL,
		BaseDN:             testldap.BaseDN,
		AdditionalUsersDN:  "ou=people",
		UsersFilter:        testldap.DisabledFilter,
		AdditionalGroupsDN: "ou=groups",
		User:               testldap.ServiceDN,
		Password:           testldap.ServicePW,
		Timeout:            5 * time.Second,
	}
}

func newDir(t *testing.T, cfg ldapusers.Config) *ldapusers.Directory {
	t.Helper()
	d, err := ldapusers.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func wantInvalid(t *testing.T, d *ldapusers.Directory, login, password string) {
	t.Helper()
	u, err := d.Authenticate(context.Background(), login, password)
	if !errors.Is(err, users.ErrInvalidCredentials) || errors.Is(err, ldapusers.ErrUnavailable) {
		t.Errorf("Authenticate(%q, %q) = %+v, %v; want users.ErrInvalidCredentials", login, password, u, err)
	}
	if u.Name != "" {
		t.Errorf("Authenticate(%q) returned user %q, want none", login, u.Name)
	}
}

func TestAuthenticate(t *testing.T) {
	s := testldap.Start(t)
	for _, mode := range []string{ldapusers.ModeFilter, ldapusers.ModeMemberOf} {
		t.Run(mode, func(t *testing.T) {
			cfg := baseConfig(s)
			cfg.GroupSearchMode = mode
			d := newDir(t, cfg)
			ctx := context.Background()

			u, err := d.Authenticate(ctx, "alice", testldap.AlicePassword)
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			want := users.User{Name: "alice", DisplayName: "Alice Doe", Email: "alice@example.test", Groups: []string{"admins", "dev"}}
			if u.Name != want.Name || u.DisplayName != want.DisplayName || u.Email != want.Email || !slices.Equal(u.Groups, want.Groups) {
				t.Errorf("alice = %+v, want %+v", u, want)
			}
			// The name is the directory's, whatever case and spacing the
			// login had (uid matches case-insensitively).
			u, err = d.Authenticate(ctx, "ALICE", testldap.AlicePassword)
			if err != nil || u.Name != "alice" {
				t.Errorf("ALICE = %+v, %v; want alice", u, err)
			}
			u, err = d.Authenticate(ctx, "bob", testldap.BobPassword)
			if err != nil || !slices.Equal(u.Groups, []string{"dev"}) || u.Email != "bob@example.test" {
				t.Errorf("bob = %+v, %v; want groups [dev]", u, err)
			}

			wantInvalid(t, d, "alice", "wrong")
			wantInvalid(t, d, "alice", testldap.BobPassword)
			wantInvalid(t, d, "nobody", "x")
			wantInvalid(t, d, "carol", testldap.CarolPassword) // disabled
			wantInvalid(t, d, "alice", "")                     // would be an unauthenticated bind
			wantInvalid(t, d, "", testldap.AlicePassword)

			if u, ok, err := d.Lookup(ctx, "alice"); err != nil || !ok || !slices.Equal(u.Groups, []string{"admins", "dev"}) {
				t.Errorf("Lookup(alice) = %+v, %v, %v", u, ok, err)
			}
			for _, name := range []string{"carol", "nobody", "*", ""} {
				if u, ok, err := d.Lookup(ctx, name); err != nil || ok {
					t.Errorf("Lookup(%q) = %+v, %v, %v; want not found", name, u, ok, err)
				}
			}
		})
	}
}

// Without the disabled condition, the default filter finds carol: which
// accounts are disabled is the users filter's business on OpenLDAP.
func TestDefaultFilterFindsMarkedAccount(t *testing.T) {
	s := testldap.Start(t)
	cfg := baseConfig(s)
	cfg.UsersFilter = ""
	d := newDir(t, cfg)
	if u, err := d.Authenticate(context.Background(), "carol", testldap.CarolPassword); err != nil || u.Name != "carol" {
		t.Errorf("carol with the default filter = %+v, %v; want carol", u, err)
	}
}

// Logins that would change the filter if they went in unescaped. Each is
// tried with every real password: none may log anyone in.
func TestInjection(t *testing.T) {
	s := testldap.Start(t)
	cfg := baseConfig(s)
	// A filter on uid or mail: {input} appears twice.
	cfg.UsersFilter = "(&(|({username_attribute}={input})({mail_attribute}={input}))(objectClass=person)(!(employeeType=disabled)))"
	d := newDir(t, cfg)
	logins := []string{
		"*", "a*", "*alice*", "alice)(uid=*", "*)(|(uid=*", "alice)(|(objectClass=*)", "alice))(|(uid=*",
		`alice\`, `\2a`, `alice\29`, "alice\x00", "\x00", "alice)(!(employeeType=disabled)", "carol)(employeeType=*",
		"*)(employeeType=disabled))(|(uid=carol", "(uid=alice)", "alice*", strings.Repeat("a", 300),
	}
	for _, login := range logins {
		for _, pw := range []string{testldap.AlicePassword, testldap.BobPassword, testldap.CarolPassword} {
			wantInvalid(t, d, login, pw)
		}
		if _, ok, err := d.Lookup(context.Background(), login); ok || err != nil {
			t.Errorf("Lookup(%q) = %v, %v; want not found", login, ok, err)
		}
	}
	// The second alternative works, so the filter is as configured.
	if u, err := d.Authenticate(context.Background(), "alice@example.test", testldap.AlicePassword); err != nil || u.Name != "alice" {
		t.Errorf("login by mail = %+v, %v; want alice", u, err)
	}
}

func TestTLS(t *testing.T) {
	s := testldap.Start(t)
	ctx := context.Background()
	cases := []struct {
		name string
		edit func(*ldapusers.Config)
		ok   bool
	}{
		{"starttls", func(c *ldapusers.Config) { c.StartTLS = true }, true},
		{"ldaps", func(c *ldapusers.Config) { c.Address = s.LDAPS }, true},
		{"starttls wrong name", func(c *ldapusers.Config) { c.StartTLS, c.TLSServerName = true, "other.test" }, false},
		{"ldaps wrong name", func(c *ldapusers.Config) { c.Address, c.TLSServerName = s.LDAPS, "other.test" }, false},
		{"ldaps untrusted CA", func(c *ldapusers.Config) { c.Address, c.TLSCAFile = s.LDAPS, "" }, false},
		{"ldaps skip verify", func(c *ldapusers.Config) {
			c.Address, c.TLSCAFile, c.TLSServerName, c.TLSSkipVerify = s.LDAPS, "", "", true
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(s)
			cfg.TLSCAFile, cfg.TLSServerName = s.CAFile, testldap.ServerName
			tc.edit(&cfg)
			d := newDir(t, cfg)
			u, err := d.Authenticate(ctx, "alice", testldap.AlicePassword)
			if tc.ok {
				if err != nil || u.Name != "alice" {
					t.Errorf("= %+v, %v; want alice", u, err)
				}
				wantInvalid(t, d, "alice", "wrong")
				return
			}
			if !errors.Is(err, ldapusers.ErrUnavailable) || errors.Is(err, users.ErrInvalidCredentials) {
				t.Errorf("= %+v, %v; want ErrUnavailable", u, err)
			}
		})
	}
}

func TestServiceAccountRefused(t *testing.T) {
	s := testldap.Start(t)
	cfg := baseConfig(s)
	cfg.Password = "wrong"
	d := newDir(t, cfg)
	_, err := d.Authenticate(context.Background(), "alice", testldap.AlicePassword)
	if !errors.Is(err, ldapusers.ErrUnavailable) || errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("= %v; want ErrUnavailable, not invalid credentials", err)
	}
	if !strings.Contains(err.Error(), "SSO_LDAP_USER") {
		t.Errorf("error %q does not name SSO_LDAP_USER", err)
	}
}

// Sequential logins share one connection; a restarted slapd is reconnected
// to without a failed login; a killed one gives ErrUnavailable within the
// timeout, never invalid credentials.
func TestPoolAndOutage(t *testing.T) {
	s := testldap.Start(t)
	cfg := baseConfig(s)
	cfg.Timeout = 2 * time.Second
	cfg.PoolSize = 3
	d := newDir(t, cfg)
	ctx := context.Background()
	for i := range 10 {
		if _, err := d.Authenticate(ctx, "alice", testldap.AlicePassword); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if st := d.Stats(); st.Dials != 1 || st.Idle != 1 {
		t.Errorf("after 10 sequential logins: %+v, want 1 dial and 1 idle connection", st)
	}

	// Parallel logins open at most PoolSize connections.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := d.Authenticate(ctx, "bob", testldap.BobPassword); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("parallel login: %v", err)
	}
	if st := d.Stats(); st.Dials > int64(cfg.PoolSize) || st.Idle > cfg.PoolSize {
		t.Errorf("after parallel logins: %+v, want at most %d connections", st, cfg.PoolSize)
	}

	s.Restart()
	before := d.Stats().Dials
	if u, err := d.Authenticate(ctx, "alice", testldap.AlicePassword); err != nil || u.Name != "alice" {
		t.Fatalf("first login after restart = %+v, %v; want alice", u, err)
	}
	if d.Stats().Dials <= before {
		t.Errorf("no new connection after the restart: %+v", d.Stats())
	}
	wantInvalid(t, d, "alice", "wrong")

	s.Kill()
	for _, pw := range []string{testldap.AlicePassword, "wrong"} {
		start := time.Now()
		u, err := d.Authenticate(ctx, "alice", pw)
		if !errors.Is(err, ldapusers.ErrUnavailable) || errors.Is(err, users.ErrInvalidCredentials) || u.Name != "" {
			t.Errorf("killed slapd, password %q: %+v, %v; want ErrUnavailable", pw, u, err)
		}
		// Refused connections fail at once; the bound is generous for a
		// loaded machine but well below a hang.
		if el := time.Since(start); el > 3*cfg.Timeout {
			t.Errorf("killed slapd: answered after %v, timeout %v", el, cfg.Timeout)
		}
	}
	if _, _, err := d.Lookup(ctx, "alice"); !errors.Is(err, ldapusers.ErrUnavailable) {
		t.Errorf("Lookup with slapd killed: %v, want ErrUnavailable", err)
	}
}

// A context that ends aborts a call, which wraps ErrUnavailable.
func TestContext(t *testing.T) {
	s := testldap.Start(t)
	d := newDir(t, baseConfig(s))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Authenticate(ctx, "alice", testldap.AlicePassword); !errors.Is(err, ldapusers.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want ErrUnavailable and context.Canceled", err)
	}
	if _, err := d.Authenticate(context.Background(), "alice", testldap.AlicePassword); err != nil {
		t.Errorf("after a cancelled call: %v", err)
	}
}

// The settings as an operator writes them, through config.Load: StartTLS with the CA file and server name, the password
// from a file.
func TestSettings(t *testing.T) {
	s := testldap.Start(t)
	pwFile := filepath.Join(t.TempDir(), "ldap.pw")
	if err := os.WriteFile(pwFile, []byte(testldap.ServicePW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SSO_COOKIE_DOMAINS":           "example.com",
		"SSO_SECRET_KEYS":              "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
		"SSO_LDAP_ADDRESS":             s.URL,
		"SSO_LDAP_START_TLS":           "true",
		"SSO_LDAP_TLS_CA_FILE":         s.CAFile,
		"SSO_LDAP_TLS_SERVER_NAME":     testldap.ServerName,
		"SSO_LDAP_BASE_DN":             testldap.BaseDN,
		"SSO_LDAP_ADDITIONAL_USERS_DN": "ou=people",
		"SSO_LDAP_USERS_FILTER":        testldap.DisabledFilter,
		"SSO_LDAP_GROUP_SEARCH_MODE":   "memberof",
		"SSO_LDAP_USER":                testldap.ServiceDN,
		"SSO_LDAP_PASSWORD_FILE":       pwFile,
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	d := newDir(t, cfg.LDAP)
	u, err := d.Authenticate(context.Background(), "alice", testldap.AlicePassword)
	if err != nil || !slices.Equal(u.Groups, []string{"admins", "dev"}) {
		t.Errorf("alice = %+v, %v", u, err)
	}
	wantInvalid(t, d, "carol", testldap.CarolPassword)
}

// A hung directory (slapd stopped with SIGSTOP: the kernel still accepts
// connections) gives ErrUnavailable after the timeout, or earlier when the
// caller's context ends first; once it answers again, logins work.
func TestHungDirectory(t *testing.T) {
	s := testldap.Start(t)
	cfg := baseConfig(s)
	cfg.Timeout = 500 * time.Millisecond
	d := newDir(t, cfg)
	ctx := context.Background()
	if _, err := d.Authenticate(ctx, "alice", testldap.AlicePassword); err != nil {
		t.Fatal(err)
	}
	s.Pause()
	// The pooled connection times out on its search; the next call dials,
	// and the service bind on the new connection times out.
	for i := range 2 {
		start := time.Now()
		u, err := d.Authenticate(ctx, "alice", testldap.AlicePassword)
		if !errors.Is(err, ldapusers.ErrUnavailable) || u.Name != "" {
			t.Errorf("hung slapd, call %d: %+v, %v; want ErrUnavailable", i, u, err)
		}
		// No lower bound: only that it does not hang (generous for a
		// loaded machine).
		if el := time.Since(start); el > 10*cfg.Timeout {
			t.Errorf("hung slapd, call %d: answered after %v, timeout %v", i, el, cfg.Timeout)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := d.Authenticate(cctx, "alice", testldap.AlicePassword); !errors.Is(err, ldapusers.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung slapd with a 100ms context: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	s.Resume()
	var err error
	for range 20 { // the kernel's backlog of dead connections drains first
		if _, err = d.Authenticate(ctx, "alice", testldap.AlicePassword); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("after resume: %v", err)
	}
}

// Implementation activedirectory against the AD-shaped directory: the
// sAMAccountName and group defaults, the groups filter on sAMAccountType,
// DNs with spaces, and a disabled account (userAccountControl 514) refused
// both by a filter with the bitwise rule and, when the filter lacks it, by
// the check on the entry found.
func TestActiveDirectory(t *testing.T) {
	s := testldap.Start(t)
	for name, filter := range map[string]string{
		"filter with the disabled bit": "(&({username_attribute}={input})(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
		"filter without it":            "(&({username_attribute}={input})(objectClass=user))",
	} {
		t.Run(name, func(t *testing.T) {
			d := newDir(t, ldapusers.Config{
				Address:           s.LDAPS,
				TLSCAFile:         s.CAFile,
				TLSServerName:     testldap.ServerName,
				Implementation:    ldapusers.ActiveDirectory,
				BaseDN:            testldap.ADBaseDN,
				AdditionalUsersDN: "CN=Users",
				UsersFilter:       filter,
				User:              testldap.ADServiceDN,
				Password:          testldap.ADServicePW,
			})
			ctx := context.Background()
			u, err := d.Authenticate(ctx, "Dave", testldap.DavePassword)
			if err != nil || u.Name != "dave" || u.Email != "dave@corp.test" || u.DisplayName != "Dave Example" || !slices.Equal(u.Groups, []string{"Staff"}) {
				t.Errorf("dave = %+v, %v; want dave in [Staff] only", u, err)
			}
			wantInvalid(t, d, "dave", "wrong")
			wantInvalid(t, d, "erin", testldap.ErinPassword)
			wantInvalid(t, d, "*", testldap.DavePassword)
			if _, ok, err := d.Lookup(ctx, "erin"); ok || err != nil {
				t.Errorf("Lookup(erin) = %v, %v; want not found", ok, err)
			}
		})
	}
}

// The README's OpenLDAP example works: its block, with the deployment's
// address, CA, certificate name and password file replaced by the test
// server's, logs alice in with her groups and refuses carol.
func TestREADMEOpenLDAP(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- ldap-openldap -->\n```sh\n")
	block, _, ok2 := strings.Cut(block, "```\n<!-- /ldap-openldap -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no ldap-openldap block")
	}
	s := testldap.Start(t)
	pwFile := filepath.Join(t.TempDir(), "ldap-password")
	if err := os.WriteFile(pwFile, []byte(testldap.ServicePW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SSO_COOKIE_DOMAINS": "example.com", "SSO_SECRET_KEYS": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="}
	for _, line := range strings.Split(block, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "SSO_LDAP_") {
			t.Fatalf("README line %q is not SSO_LDAP_X=value", line)
		}
		env[k] = strings.Trim(v, "'")
	}
	for k, v := range map[string]string{
		"SSO_LDAP_URL": s.URL, "SSO_LDAP_TLS_CA_FILE": s.CAFile, "SSO_LDAP_TLS_SERVER_NAME": testldap.ServerName, "SSO_LDAP_PASSWORD_FILE": pwFile,
	} {
		if k != "SSO_LDAP_TLS_SERVER_NAME" && env[k] == "" {
			t.Fatalf("README block does not set %s", k)
		}
		env[k] = v
	}
	if env["SSO_LDAP_START_TLS"] != "true" || env["SSO_LDAP_BASE_DN"] != testldap.BaseDN || env["SSO_LDAP_USER"] != testldap.ServiceDN {
		t.Fatalf("README block: StartTLS %q, base %q, user %q; the test directory has %q, %q", env["SSO_LDAP_START_TLS"],
			env["SSO_LDAP_BASE_DN"], env["SSO_LDAP_USER"], testldap.BaseDN, testldap.ServiceDN)
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	d := newDir(t, cfg.LDAP)
	u, err := d.Authenticate(context.Background(), "alice", testldap.AlicePassword)
	if err != nil || !slices.Equal(u.Groups, []string{"admins", "dev"}) || u.Email != "alice@example.test" {
		t.Errorf("alice = %+v, %v", u, err)
	}
	wantInvalid(t, d, "carol", testldap.CarolPassword)
}

// A users filter that lets one login match several entries refuses the
// login rather than pick one (here: a mail suffix matches everyone).
func TestAmbiguousLogin(t *testing.T) {
	s := testldap.Start(t)
	cfg := baseConfig(s)
	cfg.UsersFilter = "(&(objectClass=inetOrgPerson)(|(uid={input})(mail=*@{input})))"
	d := newDir(t, cfg)
	if u, err := d.Authenticate(context.Background(), "alice", testldap.AlicePassword); err != nil || u.Name != "alice" {
		t.Fatalf("alice = %+v, %v", u, err)
	}
	for _, pw := range []string{testldap.AlicePassword, testldap.BobPassword} {
		wantInvalid(t, d, "example.test", pw)
	}
	cfg.PoolSize = 1
	d = newDir(t, cfg)
	wantInvalid(t, d, "example.test", testldap.AlicePassword)
	// The refusal left the connection usable.
	if _, err := d.Authenticate(context.Background(), "bob", testldap.BobPassword); err != nil || d.Stats().Dials != 1 {
		t.Errorf("after an ambiguous login: %v, %+v; want the same connection", err, d.Stats())
	}
}
