package config

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LDAP holds the SSO_LDAP_* settings: an LDAP or Active Directory users
// backend instead of the users file. The names follow Authelia's
// authentication_backend.ldap keys; ldapusers.FromConfig turns them into an
// ldapusers.Config, whose New checks filter, DN and attribute syntax.
type LDAP struct {
	Address              string        // SSO_LDAP_ADDRESS: ldap://host[:port] or ldaps://host[:port]; "" = no LDAP
	Implementation       string        // SSO_LDAP_IMPLEMENTATION: custom or activedirectory
	Timeout              time.Duration // SSO_LDAP_TIMEOUT
	StartTLS             bool          // SSO_LDAP_START_TLS
	TLSServerName        string        // SSO_LDAP_TLS_SERVER_NAME
	TLSSkipVerify        bool          // SSO_LDAP_TLS_SKIP_VERIFY
	TLSCAFile            string        // SSO_LDAP_TLS_CA_FILE
	BaseDN               string        // SSO_LDAP_BASE_DN
	AdditionalUsersDN    string        // SSO_LDAP_ADDITIONAL_USERS_DN
	UsersFilter          string        // SSO_LDAP_USERS_FILTER
	UsernameAttribute    string        // SSO_LDAP_USERNAME_ATTRIBUTE
	MailAttribute        string        // SSO_LDAP_MAIL_ATTRIBUTE
	DisplayNameAttribute string        // SSO_LDAP_DISPLAY_NAME_ATTRIBUTE
	AdditionalGroupsDN   string        // SSO_LDAP_ADDITIONAL_GROUPS_DN
	GroupsFilter         string        // SSO_LDAP_GROUPS_FILTER
	GroupNameAttribute   string        // SSO_LDAP_GROUP_NAME_ATTRIBUTE
	GroupSearchMode      string        // SSO_LDAP_GROUP_SEARCH_MODE: filter or memberof
	User                 string        // SSO_LDAP_USER: service account DN
	Password             string        // SSO_LDAP_PASSWORD (secret)
	PasswordFile         string        // SSO_LDAP_PASSWORD_FILE: file holding the password instead
	PoolSize             int           // SSO_LDAP_POOL_SIZE
}

// Enabled reports whether LDAP is the users backend.
func (l LDAP) Enabled() bool { return l.Address != "" }

func ldapSettings() []setting {
	str := func(env, defDoc, help string, f func(l *LDAP) *string) setting {
		return setting{env: env, kind: kindString, defDoc: defDoc, help: help, field: func(c *Config) any { return f(&c.LDAP) }}
	}
	return []setting{
		str("SSO_LDAP_ADDRESS", "none: users come from SSO_USERS_FILE",
			"LDAP users backend instead of the users file: ldap://host[:389] (with SSO_LDAP_START_TLS unless the host is loopback) or ldaps://host[:636]",
			func(l *LDAP) *string { return &l.Address }),
		{env: "SSO_LDAP_IMPLEMENTATION", kind: kindString, def: "custom",
			help:  "custom (OpenLDAP and others) or activedirectory: picks the defaults of the filters and attributes; activedirectory also refuses accounts with the ACCOUNTDISABLE bit",
			field: func(c *Config) any { return &c.LDAP.Implementation }},
		{env: "SSO_LDAP_TIMEOUT", kind: kindDuration, def: "5s",
			help:  "deadline of connecting (TLS and service bind included) and of each LDAP operation, from 100ms to 1m; past it a login answers 503, never a failed login",
			field: func(c *Config) any { return &c.LDAP.Timeout }},
		{env: "SSO_LDAP_START_TLS", kind: kindBool, defDoc: "false",
			help:  "upgrade the ldap:// connection with StartTLS",
			field: func(c *Config) any { return &c.LDAP.StartTLS }},
		str("SSO_LDAP_TLS_SERVER_NAME", "the address's host", "name the directory's certificate must hold",
			func(l *LDAP) *string { return &l.TLSServerName }),
		{env: "SSO_LDAP_TLS_SKIP_VERIFY", kind: kindBool, defDoc: "false",
			help:  "accept any certificate from the directory (tests only: anyone on the path can then read passwords)",
			field: func(c *Config) any { return &c.LDAP.TLSSkipVerify }},
		str("SSO_LDAP_TLS_CA_FILE", "none: the system's CAs", "PEM file of the CA certificates that sign the directory's certificate",
			func(l *LDAP) *string { return &l.TLSCAFile }),
		str("SSO_LDAP_BASE_DN", "", "base DN of the directory, e.g. dc=example,dc=com; required with SSO_LDAP_ADDRESS",
			func(l *LDAP) *string { return &l.BaseDN }),
		str("SSO_LDAP_ADDITIONAL_USERS_DN", "none: the whole base DN", "prefixed to SSO_LDAP_BASE_DN for the user search, e.g. ou=people",
			func(l *LDAP) *string { return &l.AdditionalUsersDN }),
		str("SSO_LDAP_USERS_FILTER", "(&({username_attribute}={input})(objectClass=person)); activedirectory: also objectCategory=person, objectClass=user and not disabled",
			"filter that finds the user; {input} is the login (escaped), {username_attribute}, {mail_attribute} and {display_name_attribute} the attribute settings. On OpenLDAP add a condition for disabled accounts, e.g. (!(employeeType=disabled))",
			func(l *LDAP) *string { return &l.UsersFilter }),
		str("SSO_LDAP_USERNAME_ATTRIBUTE", "uid; activedirectory: sAMAccountName", "attribute holding the user name (the session's user)",
			func(l *LDAP) *string { return &l.UsernameAttribute }),
		str("SSO_LDAP_MAIL_ATTRIBUTE", "mail", "attribute holding the email address",
			func(l *LDAP) *string { return &l.MailAttribute }),
		str("SSO_LDAP_DISPLAY_NAME_ATTRIBUTE", "displayName", "attribute holding the display name",
			func(l *LDAP) *string { return &l.DisplayNameAttribute }),
		str("SSO_LDAP_ADDITIONAL_GROUPS_DN", "none: the whole base DN", "prefixed to SSO_LDAP_BASE_DN for the group search, e.g. ou=groups",
			func(l *LDAP) *string { return &l.AdditionalGroupsDN }),
		str("SSO_LDAP_GROUPS_FILTER", "(&(member={dn})(objectClass=groupOfNames)); activedirectory: (&(member={dn})(|(sAMAccountType=268435456)(sAMAccountType=536870912)))",
			"filter that finds the user's groups (group search mode filter); {dn} is the user's DN, {username} the user name, {input} the login, all escaped",
			func(l *LDAP) *string { return &l.GroupsFilter }),
		str("SSO_LDAP_GROUP_NAME_ATTRIBUTE", "cn", "attribute of a group holding its name (in memberof mode: the attribute of the group DN's first RDN)",
			func(l *LDAP) *string { return &l.GroupNameAttribute }),
		{env: "SSO_LDAP_GROUP_SEARCH_MODE", kind: kindString, def: "filter",
			help:  "filter (search the groups with SSO_LDAP_GROUPS_FILTER) or memberof (read the user's memberOf attribute, no second search)",
			field: func(c *Config) any { return &c.LDAP.GroupSearchMode }},
		str("SSO_LDAP_USER", "", "DN of the service account that searches users and groups (read-only is enough); required with SSO_LDAP_ADDRESS",
			func(l *LDAP) *string { return &l.User }),
		{env: "SSO_LDAP_PASSWORD", kind: kindString, secret: true,
			help:  "password of the service account (or SSO_LDAP_PASSWORD_FILE)",
			field: func(c *Config) any { return &c.LDAP.Password }},
		str("SSO_LDAP_PASSWORD_FILE", "", "file holding the service account's password (a trailing newline is dropped), instead of SSO_LDAP_PASSWORD",
			func(l *LDAP) *string { return &l.PasswordFile }),
		{env: "SSO_LDAP_POOL_SIZE", kind: kindInt, def: "5",
			help:  "most connections to the directory open at once, from 1 to 100; idle ones are kept for the next login",
			field: func(c *Config) any { return &c.LDAP.PoolSize }},
	}
}

// validateLDAP checks the shape of the SSO_LDAP_* settings and how they sit
// with the users file.
func (c Config) validateLDAP(bad func(env, value, msg string)) {
	l := c.LDAP
	if !l.Enabled() {
		// A setting without the address is most likely a forgotten one.
		for _, s := range ldapSettings() {
			if s.env != "SSO_LDAP_ADDRESS" && c.sources[s.env] != "" && c.sources[s.env] != fromDefault {
				bad(s.env, c.value(s), "needs SSO_LDAP_ADDRESS, which is not set")
			}
		}
		return
	}
	if c.UsersFile != "" {
		// One users backend: a name in both would be two people, and a
		// login would depend on which backend answers first.
		bad("SSO_LDAP_ADDRESS", l.Address, "cannot be used together with SSO_USERS_FILE: choose one users backend")
	}
	if msg := checkLDAPAddress(l.Address, l.StartTLS); msg != "" {
		bad("SSO_LDAP_ADDRESS", l.Address, msg)
	} else if strings.HasPrefix(strings.ToLower(l.Address), "ldaps:") && l.StartTLS {
		bad("SSO_LDAP_START_TLS", "true", "cannot be used with an ldaps:// address, which is TLS already")
	}
	switch strings.ToLower(l.Implementation) {
	case "custom", "activedirectory":
	default:
		bad("SSO_LDAP_IMPLEMENTATION", l.Implementation, "must be custom or activedirectory")
	}
	if l.Timeout < 100*time.Millisecond || l.Timeout > time.Minute {
		bad("SSO_LDAP_TIMEOUT", fmtDuration(l.Timeout), "must be from 100ms to 1m")
	}
	if l.PoolSize < 1 || l.PoolSize > 100 {
		bad("SSO_LDAP_POOL_SIZE", strconv.Itoa(l.PoolSize), "must be from 1 to 100")
	}
	if l.BaseDN == "" {
		bad("SSO_LDAP_BASE_DN", "", "required with SSO_LDAP_ADDRESS, e.g. dc=example,dc=com")
	}
	if l.UsersFilter != "" && !strings.Contains(l.UsersFilter, "{input}") {
		bad("SSO_LDAP_USERS_FILTER", l.UsersFilter, "must contain {input}, where the login name goes")
	}
	switch strings.ToLower(l.GroupSearchMode) {
	case "filter", "memberof":
	default:
		bad("SSO_LDAP_GROUP_SEARCH_MODE", l.GroupSearchMode, "must be filter or memberof")
	}
	if l.User == "" {
		bad("SSO_LDAP_USER", "", "required with SSO_LDAP_ADDRESS: the DN of the service account that searches users")
	}
	switch {
	case l.Password != "" && l.PasswordFile != "":
		bad("SSO_LDAP_PASSWORD_FILE", l.PasswordFile, "cannot be used together with SSO_LDAP_PASSWORD: set one")
	case l.Password == "" && l.PasswordFile == "":
		bad("SSO_LDAP_PASSWORD", "", "required with SSO_LDAP_ADDRESS (or SSO_LDAP_PASSWORD_FILE)")
	case l.PasswordFile != "":
		if msg := readable(l.PasswordFile); msg != "" {
			bad("SSO_LDAP_PASSWORD_FILE", l.PasswordFile, msg)
		}
	}
	if l.TLSCAFile != "" {
		if msg := readable(l.TLSCAFile); msg != "" {
			bad("SSO_LDAP_TLS_CA_FILE", l.TLSCAFile, msg)
		}
	}
}

// checkLDAPAddress returns what is wrong with an SSO_LDAP_ADDRESS, or "".
// Plain ldap:// without StartTLS would send every password in clear, so it
// is only allowed to a loopback host.
func checkLDAPAddress(addr string, startTLS bool) string {
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "must be ldap://host[:port] or ldaps://host[:port]"
	}
	switch strings.ToLower(u.Scheme) {
	case "ldaps":
		return ""
	case "ldap":
	default:
		return "scheme must be ldap or ldaps"
	}
	if startTLS {
		return ""
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || strings.EqualFold(host, "localhost") {
		return ""
	}
	return "plain ldap:// would send passwords in clear: use ldaps:// or set SSO_LDAP_START_TLS=true (plain is allowed only to a loopback host)"
}
