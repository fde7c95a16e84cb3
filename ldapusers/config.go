package ldapusers

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/example/sso/internal/limitfile"
	"github.com/example/sso/internal/shortdur"
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

	User         string // SSO_LDAP_USER: the service account's DN (AD also takes user@domain)
	Password     string // SSO_LDAP_PASSWORD (secret)
	PasswordFile string // SSO_LDAP_PASSWORD_FILE: read by New instead of Password; a trailing newline is dropped
	PoolSize     int    // SSO_LDAP_POOL_SIZE: most connections open at once
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

// SettingError is one bad setting, named by its SSO_LDAP_* variable, as
// config.SettingError names any other (config turns these into its own, to
// add where the value came from). Value is never the password.
type SettingError struct {
	Setting string // e.g. "SSO_LDAP_USERS_FILTER"
	Value   string
	Msg     string // what is wrong and what would be valid
}

func (e *SettingError) Error() string { return fmt.Sprintf("%s=%q: %s", e.Setting, e.Value, e.Msg) }

// Enabled reports whether an LDAP directory is configured (Address set).
func (c Config) Enabled() bool { return c.Address != "" }

// Problems returns every bad setting of c, defaults applied; nil when New
// would accept it. It reads PasswordFile and TLSCAFile. This is the one
// place the LDAP settings are checked: config.Validate reports these.
func (c Config) Problems() []*SettingError {
	_, probs := c.normalize()
	if len(probs) == 0 {
		if _, err := c.tlsConfig(); err != nil {
			var se *SettingError
			if errors.As(err, &se) {
				probs = append(probs, se)
			}
		}
	}
	return probs
}

// normalize fills the defaults, reads PasswordFile into Password and
// checks every field.
func (c Config) normalize() (Config, []*SettingError) {
	var probs []*SettingError
	bad := func(env, value, msg string) { probs = append(probs, &SettingError{env, value, msg}) }

	if c.Implementation == "" {
		c.Implementation = Custom
	}
	c.Implementation = strings.ToLower(c.Implementation)
	d, ok := implDefaults[c.Implementation]
	if !ok {
		bad("SSO_LDAP_IMPLEMENTATION", c.Implementation, "must be custom or activedirectory")
		d = implDefaults[Custom] // check the rest against something
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
	fill(&c.GroupSearchMode, ModeFilter)
	c.GroupSearchMode = strings.ToLower(c.GroupSearchMode)
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}

	if hostport, ldaps, err := parseAddress(c.Address); err != nil {
		bad("SSO_LDAP_ADDRESS", c.Address, err.Error())
	} else if ldaps && c.StartTLS {
		bad("SSO_LDAP_START_TLS", "true", "cannot be used with an ldaps:// address, which is TLS already")
	} else if !ldaps && !c.StartTLS && !loopback(hostport) {
		bad("SSO_LDAP_ADDRESS", c.Address, "plain ldap:// would send passwords in clear: use ldaps:// or set SSO_LDAP_START_TLS=true (plain is allowed only to a loopback host)")
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > time.Minute {
		bad("SSO_LDAP_TIMEOUT", shortdur.String(c.Timeout), "must be from 100ms to 1m")
	}
	if c.PoolSize < 1 || c.PoolSize > 100 {
		bad("SSO_LDAP_POOL_SIZE", strconv.Itoa(c.PoolSize), "must be from 1 to 100")
	}
	if c.BaseDN == "" {
		bad("SSO_LDAP_BASE_DN", "", "required with SSO_LDAP_ADDRESS, e.g. dc=example,dc=com")
	}
	for _, dn := range []struct{ env, v string }{
		{"SSO_LDAP_BASE_DN", c.BaseDN}, {"SSO_LDAP_ADDITIONAL_USERS_DN", c.AdditionalUsersDN}, {"SSO_LDAP_ADDITIONAL_GROUPS_DN", c.AdditionalGroupsDN},
	} {
		if _, err := ldap.ParseDN(dn.v); err != nil {
			bad(dn.env, dn.v, "is not a DN such as ou=people,dc=example,dc=com: "+err.Error())
		}
	}
	attrOK := true
	for _, a := range []struct{ env, v string }{
		{"SSO_LDAP_USERNAME_ATTRIBUTE", c.UsernameAttribute}, {"SSO_LDAP_MAIL_ATTRIBUTE", c.MailAttribute},
		{"SSO_LDAP_DISPLAY_NAME_ATTRIBUTE", c.DisplayNameAttribute}, {"SSO_LDAP_GROUP_NAME_ATTRIBUTE", c.GroupNameAttribute},
	} {
		if !validAttribute(a.v) {
			bad(a.env, a.v, "must be an attribute name (letters, digits, hyphens) or an OID")
			attrOK = false
		}
	}
	if !strings.Contains(c.UsersFilter, "{input}") {
		bad("SSO_LDAP_USERS_FILTER", c.UsersFilter, "must contain {input}, where the login name goes")
	} else if _, err := ldap.CompileFilter(c.userFilter("x")); err != nil && attrOK {
		bad("SSO_LDAP_USERS_FILTER", c.UsersFilter, "is not a valid LDAP filter: "+err.Error())
	}
	switch c.GroupSearchMode {
	case ModeFilter:
		if !strings.Contains(c.GroupsFilter, "{dn}") && !strings.Contains(c.GroupsFilter, "{username}") && !strings.Contains(c.GroupsFilter, "{input}") {
			bad("SSO_LDAP_GROUPS_FILTER", c.GroupsFilter, "must contain {dn}, {username} or {input}, or it finds the same groups for everyone")
		} else if _, err := ldap.CompileFilter(c.groupFilter("x", "x", "cn=x")); err != nil {
			bad("SSO_LDAP_GROUPS_FILTER", c.GroupsFilter, "is not a valid LDAP filter: "+err.Error())
		}
	case ModeMemberOf:
	default:
		bad("SSO_LDAP_GROUP_SEARCH_MODE", c.GroupSearchMode, "must be filter or memberof")
	}
	if c.User == "" {
		bad("SSO_LDAP_USER", "", "required with SSO_LDAP_ADDRESS: the DN of the service account that searches users")
	}
	switch {
	case c.Password != "" && c.PasswordFile != "":
		bad("SSO_LDAP_PASSWORD_FILE", c.PasswordFile, "cannot be used together with SSO_LDAP_PASSWORD: set one")
	case c.PasswordFile != "":
		data, err := limitfile.Read(c.PasswordFile, limitfile.Small)
		// Editors and echo end files with a newline; no password does.
		c.Password = strings.TrimRight(string(data), "\r\n")
		if err != nil {
			bad("SSO_LDAP_PASSWORD_FILE", c.PasswordFile, "cannot be read: "+pathErrMsg(err))
		} else if c.Password == "" {
			bad("SSO_LDAP_PASSWORD_FILE", c.PasswordFile, "is empty")
		}
	case c.Password == "":
		bad("SSO_LDAP_PASSWORD", "", "required with SSO_LDAP_ADDRESS (or SSO_LDAP_PASSWORD_FILE)")
	}
	return c, probs
}

// pathErrMsg drops the path from an *fs.PathError, which the message
// already names.
func pathErrMsg(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
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
		pem, err := limitfile.Read(c.TLSCAFile, limitfile.Small)
		if err != nil {
			return nil, &SettingError{"SSO_LDAP_TLS_CA_FILE", c.TLSCAFile, "cannot be read: " + pathErrMsg(err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &SettingError{"SSO_LDAP_TLS_CA_FILE", c.TLSCAFile, "holds no PEM certificate"}
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
