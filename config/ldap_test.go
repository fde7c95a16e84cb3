package config

import (
	"strings"
	"testing"
	"time"
)

// ldapEnv is a valid production environment with LDAP instead of the users
// file.
func ldapEnv(t *testing.T) map[string]string {
	t.Helper()
	env := prodEnv(t)
	delete(env, "SSO_USERS_FILE")
	env["SSO_LDAP_ADDRESS"] = "ldaps://dc1.example.com"
	env["SSO_LDAP_BASE_DN"] = "dc=example,dc=com"
	env["SSO_LDAP_USER"] = "cn=sso,ou=services,dc=example,dc=com"
	env["SSO_LDAP_PASSWORD"] = "ldap-service-secret"
	return env
}

func TestLDAPLoad(t *testing.T) {
	env := ldapEnv(t)
	env["SSO_LDAP_IMPLEMENTATION"] = "activedirectory"
	env["SSO_LDAP_GROUP_SEARCH_MODE"] = "memberof"
	env["SSO_LDAP_TIMEOUT"] = "3s"
	cfg, err := Load(nil, getenv(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	l := cfg.LDAP
	if !l.Enabled() || l.Address != "ldaps://dc1.example.com" || l.Implementation != "activedirectory" || l.GroupSearchMode != "memberof" ||
		l.Timeout != 3*time.Second || l.PoolSize != 5 || l.Password != "ldap-service-secret" {
		t.Errorf("LDAP = %+v", l)
	}
	if got := cfg.Redacted()["SSO_LDAP_PASSWORD"]; got != "***" {
		t.Errorf("Redacted SSO_LDAP_PASSWORD = %q, want ***", got)
	}
	if strings.Contains(cfg.String(), "ldap-service-secret") {
		t.Errorf("String() shows the LDAP password: %s", cfg)
	}
}

// TestLDAPURL: SSO_LDAP_URL alone is the directory's address, from the
// environment, a flag or the file (ldap_url).
func TestLDAPURL(t *testing.T) {
	env := ldapEnv(t)
	delete(env, "SSO_LDAP_ADDRESS")
	env["SSO_LDAP_URL"] = "ldaps://dc3.example.com"
	cfg, err := Load(nil, getenv(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !cfg.LDAP.Enabled() || cfg.LDAP.Address != "ldaps://dc3.example.com" || cfg.LDAPSetting() != "SSO_LDAP_URL" {
		t.Errorf("LDAP.Address = %q, LDAPSetting = %q", cfg.LDAP.Address, cfg.LDAPSetting())
	}
	delete(env, "SSO_LDAP_URL")
	cfg, err = Load([]string{"--ldap-url=ldaps://dc4.example.com"}, getenv(env))
	if err != nil || cfg.LDAP.Address != "ldaps://dc4.example.com" {
		t.Errorf("--ldap-url: Address %q, err %v", cfg.LDAP.Address, err)
	}
	file := writeFile(t, "sso.yaml", "ldap_url: ldaps://dc5.example.com\n")
	env["SSO_CONFIG"] = file
	cfg, err = Load(nil, getenv(env))
	if err != nil || cfg.LDAP.Address != "ldaps://dc5.example.com" {
		t.Errorf("ldap_url in the file: Address %q, err %v", cfg.LDAP.Address, err)
	}
}

func TestLDAPFile(t *testing.T) {
	pw := writeFile(t, "ldap.pw", "from-file\n")
	file := writeFile(t, "sso.yaml", `cookie_domains: example.com
secret_keys: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==
ldap_address: ldap://ldap.example.com
ldap_start_tls: true
ldap_base_dn: dc=example,dc=com
ldap_additional_users_dn: ou=people
ldap_users_filter: "(&({username_attribute}={input})(objectClass=person)(!(employeeType=disabled)))"
ldap_user: cn=sso,dc=example,dc=com
ldap_password_file: `+pw+"\n")
	cfg, err := Load([]string{"--config", file}, getenv(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !cfg.LDAP.StartTLS || cfg.LDAP.PasswordFile != pw || cfg.LDAP.AdditionalUsersDN != "ou=people" || !strings.Contains(cfg.LDAP.UsersFilter, "employeeType") {
		t.Errorf("LDAP = %+v", cfg.LDAP)
	}
}

func TestLDAPValidate(t *testing.T) {
	cases := []struct {
		name string
		set  map[string]string // "" deletes
		want string            // a line of the error; "" = valid
	}{
		{"ldaps", nil, ""},
		{"starttls", map[string]string{"SSO_LDAP_ADDRESS": "ldap://ldap.example.com", "SSO_LDAP_START_TLS": "true"}, ""},
		{"plain loopback", map[string]string{"SSO_LDAP_ADDRESS": "ldap://127.0.0.1:3389"}, ""},
		{"plain remote", map[string]string{"SSO_LDAP_ADDRESS": "ldap://ldap.example.com"},
			`SSO_LDAP_ADDRESS="ldap://ldap.example.com": plain ldap:// would send passwords in clear: use ldaps:// or set SSO_LDAP_START_TLS=true (plain is allowed only to a loopback host)`},
		{"scheme", map[string]string{"SSO_LDAP_ADDRESS": "https://ldap.example.com"}, `SSO_LDAP_ADDRESS="https://ldap.example.com": scheme must be ldap or ldaps`},
		{"no host", map[string]string{"SSO_LDAP_ADDRESS": "ldap.example.com:389"}, `SSO_LDAP_ADDRESS="ldap.example.com:389": must be ldap://host[:port] or ldaps://host[:port]`},
		{"ldaps and starttls", map[string]string{"SSO_LDAP_START_TLS": "true"}, `SSO_LDAP_START_TLS="true": cannot be used with an ldaps:// address, which is TLS already`},
		{"with users file", map[string]string{"SSO_USERS_FILE": "@USERS@"},
			`SSO_LDAP_ADDRESS="ldaps://dc1.example.com": cannot be used together with SSO_USERS_FILE: choose one users backend`},
		{"no base", map[string]string{"SSO_LDAP_BASE_DN": ""}, `SSO_LDAP_BASE_DN="": required with SSO_LDAP_ADDRESS, e.g. dc=example,dc=com`},
		{"no user", map[string]string{"SSO_LDAP_USER": ""}, `SSO_LDAP_USER="": required with SSO_LDAP_ADDRESS: the DN of the service account that searches users`},
		{"no password", map[string]string{"SSO_LDAP_PASSWORD": ""}, `SSO_LDAP_PASSWORD="": required with SSO_LDAP_ADDRESS (or SSO_LDAP_PASSWORD_FILE)`},
		{"password twice", map[string]string{"SSO_LDAP_PASSWORD_FILE": "PWFILE"}, `SSO_LDAP_PASSWORD_FILE="PWFILE": cannot be used together with SSO_LDAP_PASSWORD: set one`},
		{"password file missing", map[string]string{"SSO_LDAP_PASSWORD": "", "SSO_LDAP_PASSWORD_FILE": "/nonexistent/pw"},
			`SSO_LDAP_PASSWORD_FILE="/nonexistent/pw": cannot be read: no such file or directory`},
		{"ca file missing", map[string]string{"SSO_LDAP_TLS_CA_FILE": "/nonexistent/ca.pem"}, `SSO_LDAP_TLS_CA_FILE="/nonexistent/ca.pem": cannot be read: no such file or directory`},
		{"ca file not pem", map[string]string{"SSO_LDAP_TLS_CA_FILE": "@USERS@"}, `SSO_LDAP_TLS_CA_FILE="@USERS@": holds no PEM certificate`},
		{"bad dn", map[string]string{"SSO_LDAP_ADDITIONAL_USERS_DN": "people"}, `SSO_LDAP_ADDITIONAL_USERS_DN="people": is not a DN such as ou=people,dc=example,dc=com: DN ended with incomplete type, value pair`},
		{"bad filter", map[string]string{"SSO_LDAP_GROUPS_FILTER": "(member={dn}"}, `SSO_LDAP_GROUPS_FILTER="(member={dn}": is not a valid LDAP filter: LDAP Result Code 201 "Filter Compile Error": ldap: unexpected end of filter`},
		{"implementation", map[string]string{"SSO_LDAP_IMPLEMENTATION": "edirectory"}, `SSO_LDAP_IMPLEMENTATION="edirectory": must be custom or activedirectory`},
		{"timeout", map[string]string{"SSO_LDAP_TIMEOUT": "5m"}, `SSO_LDAP_TIMEOUT="5m": must be from 100ms to 1m`},
		{"pool", map[string]string{"SSO_LDAP_POOL_SIZE": "101"}, `SSO_LDAP_POOL_SIZE="101": must be from 1 to 100`},
		{"mode", map[string]string{"SSO_LDAP_GROUP_SEARCH_MODE": "nested"}, `SSO_LDAP_GROUP_SEARCH_MODE="nested": must be filter or memberof`},
		{"filter", map[string]string{"SSO_LDAP_USERS_FILTER": "(uid=alice)"}, `SSO_LDAP_USERS_FILTER="(uid=alice)": must contain {input}, where the login name goes`},
		{"setting without address", map[string]string{"SSO_LDAP_ADDRESS": "", "SSO_USERS_FILE": "@USERS@"}, `SSO_LDAP_BASE_DN="dc=example,dc=com": needs SSO_LDAP_URL (or its alias SSO_LDAP_ADDRESS), which is not set`},
		// SSO_LDAP_URL (the contract's name) and SSO_LDAP_ADDRESS
		// (Authelia's) are one setting; messages use the name given.
		{"url instead of address", map[string]string{"SSO_LDAP_ADDRESS": "", "SSO_LDAP_URL": "ldaps://dc1.example.com"}, ""},
		{"url and address alike", map[string]string{"SSO_LDAP_URL": "ldaps://dc1.example.com"}, ""},
		{"url and address differ", map[string]string{"SSO_LDAP_URL": "ldaps://dc2.example.com"},
			`SSO_LDAP_URL="ldaps://dc2.example.com": and SSO_LDAP_ADDRESS="ldaps://dc1.example.com" are both set, to different addresses: they are one setting (SSO_LDAP_ADDRESS is Authelia's name for SSO_LDAP_URL); keep one`},
		{"url scheme", map[string]string{"SSO_LDAP_ADDRESS": "", "SSO_LDAP_URL": "https://ldap.example.com"}, `SSO_LDAP_URL="https://ldap.example.com": scheme must be ldap or ldaps`},
		{"url no base", map[string]string{"SSO_LDAP_ADDRESS": "", "SSO_LDAP_URL": "ldaps://dc1.example.com", "SSO_LDAP_BASE_DN": ""},
			`SSO_LDAP_BASE_DN="": required with SSO_LDAP_URL, e.g. dc=example,dc=com`},
		{"url with users file", map[string]string{"SSO_LDAP_ADDRESS": "", "SSO_LDAP_URL": "ldaps://dc1.example.com", "SSO_USERS_FILE": "@USERS@"},
			`SSO_LDAP_URL="ldaps://dc1.example.com": cannot be used together with SSO_USERS_FILE: choose one users backend`},
		{"neither backend", map[string]string{"SSO_LDAP_ADDRESS": "", "SSO_LDAP_BASE_DN": "", "SSO_LDAP_USER": "", "SSO_LDAP_PASSWORD": ""},
			`SSO_USERS_FILE="": required outside dev mode (or an LDAP directory: SSO_LDAP_URL, or an OpenID provider: SSO_OIDC_ISSUER)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := ldapEnv(t)
			for k, v := range tc.set {
				switch v {
				case "":
					delete(env, k)
				case "@USERS@":
					env[k] = writeFile(t, "users.yaml", "users: {}\n")
					tc.want = strings.Replace(tc.want, "@USERS@", env[k], 1)
				case "PWFILE":
					env[k] = writeFile(t, "pw", "x")
					tc.want = strings.Replace(tc.want, "PWFILE", env[k], 1)
				default:
					env[k] = v
				}
			}
			_, err := Load(nil, getenv(env))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			lines := problems(err)
			found := false
			for _, l := range lines {
				found = found || l == tc.want
				if strings.Contains(l, "ldap-service-secret") {
					t.Errorf("error line shows the password: %s", l)
				}
			}
			if !found {
				t.Errorf("Load error lines:\n%s\nwant a line\n%s", strings.Join(lines, "\n"), tc.want)
			}
		})
	}
}
