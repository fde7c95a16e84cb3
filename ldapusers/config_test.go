package ldapusers

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/example/sso/users"
)

func validConfig() Config {
	return Config{
		Address:  "ldap://127.0.0.1:389",
		BaseDN:   "dc=example,dc=com",
		User:     "cn=reader,dc=example,dc=com",
		Password: "pw",
	}
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*Config)
		setting string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"ldaps", func(c *Config) { c.Address = "ldaps://dc1.example.com" }, ""},
		{"starttls", func(c *Config) { c.Address, c.StartTLS = "ldap://dc1.example.com", true }, ""},
		{"plain remote", func(c *Config) { c.Address = "ldap://dc1.example.com" }, "SSO_LDAP_ADDRESS"},
		{"plain localhost", func(c *Config) { c.Address = "ldap://localhost" }, ""},
		{"ad", func(c *Config) { c.Implementation = "ActiveDirectory" }, ""},
		{"memberof", func(c *Config) { c.GroupSearchMode = "memberof" }, ""},
		{"no address", func(c *Config) { c.Address = "" }, "SSO_LDAP_ADDRESS"},
		{"http", func(c *Config) { c.Address = "http://host" }, "SSO_LDAP_ADDRESS"},
		{"bare host", func(c *Config) { c.Address = "host:389" }, "SSO_LDAP_ADDRESS"},
		{"path", func(c *Config) { c.Address = "ldap://host/dc=x" }, "SSO_LDAP_ADDRESS"},
		{"userinfo", func(c *Config) { c.Address = "ldap://u:p@host" }, "SSO_LDAP_ADDRESS"},
		{"ldaps and starttls", func(c *Config) { c.Address, c.StartTLS = "ldaps://host", true }, "SSO_LDAP_START_TLS"},
		{"implementation", func(c *Config) { c.Implementation = "novell" }, "SSO_LDAP_IMPLEMENTATION"},
		{"no base", func(c *Config) { c.BaseDN = "" }, "SSO_LDAP_BASE_DN"},
		{"bad base", func(c *Config) { c.BaseDN = "example.com" }, "SSO_LDAP_BASE_DN"},
		{"bad users dn", func(c *Config) { c.AdditionalUsersDN = "people" }, "SSO_LDAP_ADDITIONAL_USERS_DN"},
		{"bad groups dn", func(c *Config) { c.AdditionalGroupsDN = "ou=a,,b" }, "SSO_LDAP_ADDITIONAL_GROUPS_DN"},
		{"filter without input", func(c *Config) { c.UsersFilter = "(uid=alice)" }, "SSO_LDAP_USERS_FILTER"},
		{"filter syntax", func(c *Config) { c.UsersFilter = "(&(uid={input})" }, "SSO_LDAP_USERS_FILTER"},
		{"groups filter without user", func(c *Config) { c.GroupsFilter = "(objectClass=groupOfNames)" }, "SSO_LDAP_GROUPS_FILTER"},
		{"groups filter syntax", func(c *Config) { c.GroupsFilter = "member={dn}" }, "SSO_LDAP_GROUPS_FILTER"},
		{"mode", func(c *Config) { c.GroupSearchMode = "both" }, "SSO_LDAP_GROUP_SEARCH_MODE"},
		{"attribute", func(c *Config) { c.UsernameAttribute = "uid)(x" }, "SSO_LDAP_USERNAME_ATTRIBUTE"},
		{"mail attribute", func(c *Config) { c.MailAttribute = "mail*" }, "SSO_LDAP_MAIL_ATTRIBUTE"},
		{"oid attribute", func(c *Config) { c.DisplayNameAttribute = "2.16.840.1.113730.3.1.241" }, ""},
		{"bad oid", func(c *Config) { c.GroupNameAttribute = "2..5" }, "SSO_LDAP_GROUP_NAME_ATTRIBUTE"},
		{"no user", func(c *Config) { c.User = "" }, "SSO_LDAP_USER"},
		{"no password", func(c *Config) { c.Password = "" }, "SSO_LDAP_PASSWORD"},
		{"timeout", func(c *Config) { c.Timeout = time.Millisecond }, "SSO_LDAP_TIMEOUT"},
		{"pool", func(c *Config) { c.PoolSize = 1000 }, "SSO_LDAP_POOL_SIZE"},
		{"ca file", func(c *Config) { c.StartTLS, c.TLSCAFile = true, "/nonexistent/ca.pem" }, "SSO_LDAP_TLS_CA_FILE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			tc.edit(&cfg)
			d, err := New(cfg)
			if tc.setting == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				d.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.setting+"=") {
				t.Errorf("New = %v, want an error naming %s", err, tc.setting)
			}
			if err != nil && strings.Contains(err.Error(), "pw") && tc.setting != "SSO_LDAP_PASSWORD" {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	d, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	c := d.Config()
	if c.UsernameAttribute != "uid" || c.GroupSearchMode != ModeFilter || c.Timeout != DefaultTimeout || c.PoolSize != DefaultPoolSize {
		t.Errorf("custom defaults: %+v", c)
	}
	ad := validConfig()
	ad.Implementation = ActiveDirectory
	d, err = New(ad)
	if err != nil {
		t.Fatal(err)
	}
	c = d.Config()
	if c.UsernameAttribute != "sAMAccountName" || !strings.Contains(c.UsersFilter, "1.2.840.113556.1.4.803:=2") {
		t.Errorf("AD defaults: %+v", c)
	}
	if got := c.userFilter("bob"); got != "(&(sAMAccountName=bob)(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))" {
		t.Errorf("AD users filter for bob = %s", got)
	}
}

// An empty password, an empty or malformed login: refused before any
// connection (the address is unreachable; nothing is dialled).
func TestRefusedBeforeDialling(t *testing.T) {
	cfg := validConfig()
	cfg.Address = "ldaps://192.0.2.1:636" // TEST-NET-1: would hang until the timeout
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, lp := range [][2]string{{"alice", ""}, {"", "pw"}, {"al\x00ice", "pw"}, {"al\nice", "pw"}, {"\xff", "pw"}, {strings.Repeat("a", MaxLoginLength+1), "pw"}} {
		if _, err := d.Authenticate(context.Background(), lp[0], lp[1]); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrInvalidCredentials", lp[0], lp[1], err)
		}
	}
	if n := d.Stats().Dials; n != 0 {
		t.Errorf("%d dials, want 0", n)
	}
}

func TestUserFilterEscapes(t *testing.T) {
	c, err := validConfig().normalize()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"alice":        "(&(uid=alice)(objectClass=person))",
		"*":            `(&(uid=\2a)(objectClass=person))`,
		"alice)(uid=*": `(&(uid=alice\29\28uid=\2a)(objectClass=person))`,
		"*)(|(uid=*":   `(&(uid=\2a\29\28|\28uid=\2a)(objectClass=person))`,
		`a\b`:          `(&(uid=a\5cb)(objectClass=person))`,
		"a\x00b":       `(&(uid=a\00b)(objectClass=person))`,
		"{input}":      "(&(uid={input})(objectClass=person))", // placeholders in the login are not expanded again
		"{dn}":         "(&(uid={dn})(objectClass=person))",
	}
	for in, want := range cases {
		if got := c.userFilter(in); got != want {
			t.Errorf("userFilter(%q) = %s, want %s", in, got, want)
		}
	}
	if got := c.groupFilter("x", "alice", "cn=a\\,b*,dc=x"); got != `(&(member=cn=a\5c,b\2a,dc=x)(objectClass=groupOfNames))` {
		t.Errorf("groupFilter escapes the DN: %s", got)
	}
}

// Whatever the login, the users filter compiles to the same shape: an AND
// of one equality on uid, whose value is exactly the login, and the
// objectClass condition. Nothing in the login adds a condition or a
// wildcard.
func FuzzUserFilter(f *testing.F) {
	for _, s := range []string{"alice", "*", "alice)(uid=*", "*)(|(uid=*", `\`, "\x00", "é", "{input}"} {
		f.Add(s)
	}
	c, err := validConfig().normalize()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, login string) {
		p, err := ldap.CompileFilter(c.userFilter(login))
		if err != nil {
			t.Fatalf("filter for %q does not compile: %v", login, err)
		}
		if len(p.Children) != 2 {
			t.Fatalf("filter for %q has %d conditions, want 2", login, len(p.Children))
		}
		eq := p.Children[0]
		if eq.Tag != ldap.FilterEqualityMatch || len(eq.Children) != 2 {
			t.Fatalf("filter for %q: first condition is not an equality (tag %d)", login, eq.Tag)
		}
		if got := eq.Children[1].Data.String(); got != login {
			t.Fatalf("filter for %q compares uid with %q", login, got)
		}
	})
}

func TestGroupFromDN(t *testing.T) {
	cases := []struct{ dn, attr, want string }{
		{"cn=admins,ou=groups,dc=example,dc=com", "cn", "admins"},
		{"CN=Domain Admins,CN=Users,DC=corp,DC=example", "cn", "Domain Admins"},
		{`cn=a\,b,ou=groups`, "cn", "a,b"},
		{"ou=admins,dc=x", "cn", ""},
		{"not a dn", "cn", ""},
		{"", "cn", ""},
	}
	for _, tc := range cases {
		if got := groupFromDN(tc.dn, tc.attr); got != tc.want {
			t.Errorf("groupFromDN(%q, %q) = %q, want %q", tc.dn, tc.attr, got, tc.want)
		}
	}
}

// Every problem at once, each naming its setting, never the password.
func TestProblems(t *testing.T) {
	cfg := Config{Address: "ldap://dc1.example.com", Password: "hunter2", PasswordFile: "/x", UsersFilter: "(uid=x)", PoolSize: -1}
	var got []string
	for _, p := range cfg.Problems() {
		got = append(got, p.Setting)
		if strings.Contains(p.Error(), "hunter2") {
			t.Errorf("problem shows the password: %v", p)
		}
	}
	want := []string{"SSO_LDAP_ADDRESS", "SSO_LDAP_POOL_SIZE", "SSO_LDAP_BASE_DN", "SSO_LDAP_USERS_FILTER", "SSO_LDAP_USER", "SSO_LDAP_PASSWORD_FILE"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Problems() settings = %v, want %v", got, want)
	}
	if _, err := New(cfg); err == nil || strings.Count(err.Error(), "\n") != len(want)-1 {
		t.Errorf("New = %v, want %d lines", err, len(want))
	}
	if p := validConfig().Problems(); p != nil {
		t.Errorf("valid config: %v", p)
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := validConfig()
	cfg.Password, cfg.PasswordFile = "", write("pw", "s3cret\r\n")
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Config().Password; got != "s3cret" {
		t.Errorf("password from file = %q, want s3cret", got)
	}
	cfg.PasswordFile = write("empty", "\n")
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), `SSO_LDAP_PASSWORD_FILE="`+cfg.PasswordFile+`": is empty`) {
		t.Errorf("empty password file: %v", err)
	}
}
