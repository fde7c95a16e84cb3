package ldapusers

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Implementations: they differ only in the defaults of the filters and
// attributes, and in that ActiveDirectory also refuses an entry whose
// userAccountControl has the ACCOUNTDISABLE bit (2) whatever the filter.
const (
	Custom          = "custom"          // OpenLDAP and others (Authelia's "custom")
	ActiveDirectory = "activedirectory" // Microsoft Active Directory, Samba AD
)

// Group search modes (Authelia's group_search_mode).
const (
	ModeFilter   = "filter"   // search the groups with GroupsFilter
	ModeMemberOf = "memberof" // read the user's memberOf; the group's name is its RDN value
)

// Defaults.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultPoolSize = 5
)

// Config holds the settings of a Directory; the comment of each field names
// its SSO_LDAP_* setting (after Authelia's authentication_backend.ldap).
// Empty filters and attributes take the Implementation's defaults.
type Config struct {
	Address        string        // SSO_LDAP_ADDRESS: ldap://host[:389] or ldaps://host[:636]
	Implementation string        // SSO_LDAP_IMPLEMENTATION: Custom (default) or ActiveDirectory
	Timeout        time.Duration // SSO_LDAP_TIMEOUT: dial (with TLS and the service bind) and each operation
	StartTLS       bool          // SSO_LDAP_START_TLS: upgrade ldap:// with StartTLS
	TLSServerName  string        // SSO_LDAP_TLS_SERVER_NAME: name checked in the certificate; default: the address's host
	TLSSkipVerify  bool          // SSO_LDAP_TLS_SKIP_VERIFY: do not check the certificate (tests only)
	TLSCAFile      string        // SSO_LDAP_TLS_CA_FILE: PEM CA certificates to trust instead of the system's

	BaseDN               string // SSO_LDAP_BASE_DN
	AdditionalUsersDN    string // SSO_LDAP_ADDITIONAL_USERS_DN: prefixed to BaseDN for the user search
	UsersFilter          string // SSO_LDAP_USERS_FILTER: placeholders {input}, {username_attribute}, {mail_attribute}, {display_name_attribute}
	UsernameAttribute    string // SSO_LDAP_USERNAME_ATTRIBUTE
	MailAttribute        string // SSO_LDAP_MAIL_ATTRIBUTE
	DisplayNameAttribute string // SSO_LDAP_DISPLAY_NAME_ATTRIBUTE
	AdditionalGroupsDN   string // SSO_LDAP_ADDITIONAL_GROUPS_DN: prefixed to BaseDN for the group search
	GroupsFilter         string // SSO_LDAP_GROUPS_FILTER: placeholders {input}, {username}, {dn}
	GroupNameAttribute   string // SSO_LDAP_GROUP_NAME_ATTRIBUTE
	GroupSearchMode      string // SSO_LDAP_GROUP_SEARCH_MODE: ModeFilter (default) or ModeMemberOf

	User     string // SSO_LDAP_USER: the service account's DN (AD also takes user@domain)
	Password string // SSO_LDAP_PASSWORD or the contents of SSO_LDAP_PASSWORD_FILE
	PoolSize int    // SSO_LDAP_POOL_SIZE: most connections open at once
}

type defaults struct {
	usersFilter, username, mail, displayName, groupsFilter, groupName string
}

var implDefaults = map[string]defaults{
	Custom: {
		usersFilter:  "(&({username_attribute}={input})(objectClass=person))",
		username:     "uid",
		mail:         "mail",
		displayName:  "displayName",
		groupsFilter: "(&(member={dn})(objectClass=groupOfNames))",
		groupName:    "cn",
	},
	ActiveDirectory: {
		usersFilter:  "(&({username_attribute}={input})(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
		username:     "sAMAccountName",
		mail:         "mail",
		displayName:  "displayName",
		groupsFilter: "(&(member={dn})(|(sAMAccountType=268435456)(sAMAccountType=536870912)))",
		groupName:    "cn",
	},
}

// settingError names the setting, as config.SettingError does, so that a
// start-up error from New reads like one from config.Load.
func settingError(env, value, msg string) error {
	return fmt.Errorf("ldapusers: %s=%q: %s", env, value, msg)
}

// normalize fills the defaults and checks every field; it returns the
// first problem, naming its setting.
func (c Config) normalize() (Config, error) {
	if c.Implementation == "" {
		c.Implementation = Custom
	}
	c.Implementation = strings.ToLower(c.Implementation)
	d, ok := implDefaults[c.Implementation]
	if !ok {
		return c, settingError("SSO_LDAP_IMPLEMENTATION", c.Implementation, "must be custom or activedirectory")
	}
	fill := func(p *string, def string) {
		if *p == "" {
			*p = def
		}
	}
	fill(&c.UsersFilter, d.usersFilter)
	fill(&c.UsernameAttribute, d.username)
	fill(&c.MailAttribute, d.mail)
	fill(&c.DisplayNameAttribute, d.displayName)
	fill(&c.GroupsFilter, d.groupsFilter)
	fill(&c.GroupNameAttribute, d.groupName)
	if c.GroupSearchMode == "" {
		c.GroupSearchMode = ModeFilter
	}
	c.GroupSearchMode = strings.ToLower(c.GroupSearchMode)
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}

	if _, _, err := parseAddress(c.Address); err != nil {
		return c, settingError("SSO_LDAP_ADDRESS", c.Address, err.Error())
	}
	if hostport, ldaps, _ := parseAddress(c.Address); !ldaps && !c.StartTLS && !loopback(hostport) {
		return c, settingError("SSO_LDAP_ADDRESS", c.Address, "plain ldap:// would send passwords in clear: use ldaps:// or set SSO_LDAP_START_TLS=true (plain is allowed only to a loopback host)")
	}
	if strings.HasPrefix(strings.ToLower(c.Address), "ldaps://") && c.StartTLS {
		return c, settingError("SSO_LDAP_START_TLS", "true", "cannot be used with an ldaps:// address, which is TLS already")
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > time.Minute {
		return c, settingError("SSO_LDAP_TIMEOUT", c.Timeout.String(), "must be from 100ms to 1m")
	}
	if c.PoolSize < 1 || c.PoolSize > 100 {
		return c, settingError("SSO_LDAP_POOL_SIZE", fmt.Sprint(c.PoolSize), "must be from 1 to 100")
	}
	if c.BaseDN == "" {
		return c, settingError("SSO_LDAP_BASE_DN", "", "required, e.g. dc=example,dc=com")
	}
	for _, dn := range []struct{ env, v string }{
		{"SSO_LDAP_BASE_DN", c.BaseDN}, {"SSO_LDAP_ADDITIONAL_USERS_DN", c.AdditionalUsersDN}, {"SSO_LDAP_ADDITIONAL_GROUPS_DN", c.AdditionalGroupsDN},
	} {
		if _, err := ldap.ParseDN(dn.v); err != nil {
			return c, settingError(dn.env, dn.v, "is not a DN such as ou=people,dc=example,dc=com: "+err.Error())
		}
	}
	for _, a := range []struct{ env, v string }{
		{"SSO_LDAP_USERNAME_ATTRIBUTE", c.UsernameAttribute}, {"SSO_LDAP_MAIL_ATTRIBUTE", c.MailAttribute},
		{"SSO_LDAP_DISPLAY_NAME_ATTRIBUTE", c.DisplayNameAttribute}, {"SSO_LDAP_GROUP_NAME_ATTRIBUTE", c.GroupNameAttribute},
	} {
		if !validAttribute(a.v) {
			return c, settingError(a.env, a.v, "must be an attribute name (letters, digits, hyphens) or an OID")
		}
	}
	if !strings.Contains(c.UsersFilter, "{input}") {
		return c, settingError("SSO_LDAP_USERS_FILTER", c.UsersFilter, "must contain {input}, where the login name goes")
	}
	if _, err := ldap.CompileFilter(c.userFilter("x")); err != nil {
		return c, settingError("SSO_LDAP_USERS_FILTER", c.UsersFilter, "is not a valid LDAP filter: "+err.Error())
	}
	switch c.GroupSearchMode {
	case ModeFilter:
		if !strings.Contains(c.GroupsFilter, "{dn}") && !strings.Contains(c.GroupsFilter, "{username}") && !strings.Contains(c.GroupsFilter, "{input}") {
			return c, settingError("SSO_LDAP_GROUPS_FILTER", c.GroupsFilter, "must contain {dn}, {username} or {input}, or it finds the same groups for everyone")
		}
		if _, err := ldap.CompileFilter(c.groupFilter("x", "x", "cn=x")); err != nil {
			return c, settingError("SSO_LDAP_GROUPS_FILTER", c.GroupsFilter, "is not a valid LDAP filter: "+err.Error())
		}
	case ModeMemberOf:
	default:
		return c, settingError("SSO_LDAP_GROUP_SEARCH_MODE", c.GroupSearchMode, "must be filter or memberof")
	}
	if c.User == "" {
		return c, settingError("SSO_LDAP_USER", "", "required: the DN of the service account that searches for users")
	}
	if c.Password == "" {
		return c, settingError("SSO_LDAP_PASSWORD", "", "required (or SSO_LDAP_PASSWORD_FILE): the service account's password")
	}
	return c, nil
}

// parseAddress returns the host:port to dial and whether the connection
// is TLS from the start.
func parseAddress(addr string) (hostport string, ldaps bool, err error) {
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return "", false, fmt.Errorf("must be ldap://host[:port] or ldaps://host[:port]")
	}
	port := ""
	switch strings.ToLower(u.Scheme) {
	case "ldap":
		port = "389"
	case "ldaps":
		port, ldaps = "636", true
	default:
		return "", false, fmt.Errorf("scheme must be ldap or ldaps")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false, fmt.Errorf("must be ldap://host[:port] or ldaps://host[:port], without user, path or query")
	}
	if u.Port() != "" {
		port = u.Port()
	}
	return net.JoinHostPort(u.Hostname(), port), ldaps, nil
}

// loopback reports whether hostport's host is a loopback address or
// localhost: the one place a password may travel in clear.
func loopback(hostport string) bool {
	host, _, _ := net.SplitHostPort(hostport)
	ip := net.ParseIP(host)
	return (ip != nil && ip.IsLoopback()) || strings.EqualFold(host, "localhost")
}

// validAttribute accepts an attribute description's name: a descriptor
// (letter, then letters, digits, hyphens) or a numeric OID.
func validAttribute(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	if s[0] >= '0' && s[0] <= '9' {
		for i, r := range s {
			if !(r >= '0' && r <= '9' || r == '.' && i > 0 && s[i-1] != '.') {
				return false
			}
		}
		return s[len(s)-1] != '.'
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// tlsConfig builds the client TLS configuration; nil when the address is
// plain ldap:// without StartTLS.
func (c Config) tlsConfig() (*tls.Config, error) {
	hostport, ldaps, _ := parseAddress(c.Address)
	if !ldaps && !c.StartTLS {
		return nil, nil
	}
	host, _, _ := net.SplitHostPort(hostport)
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSSkipVerify} //nolint:gosec // opt-in, documented as tests only
	if c.TLSServerName != "" {
		tc.ServerName = c.TLSServerName
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, settingError("SSO_LDAP_TLS_CA_FILE", c.TLSCAFile, "cannot be read: "+err.Error())
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, settingError("SSO_LDAP_TLS_CA_FILE", c.TLSCAFile, "holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
