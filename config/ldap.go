package config

import (
	"strconv"
	"strings"

	"github.com/example/sso/ldapusers"
)

func ldapSettings() []setting {
	str := func(env, defDoc, help string, f func(l *ldapusers.Config) *string) setting {
		return setting{env: env, kind: kindString, defDoc: defDoc, help: help, field: func(c *Config) any { return f(&c.LDAP) }}
	}
	return []setting{
		{env: LDAPURLSetting, kind: kindString, defDoc: "none: users come from SSO_USERS_FILE",
			help:  "LDAP users backend instead of the users file: ldap://host[:389] (with SSO_LDAP_START_TLS unless the host is loopback) or ldaps://host[:636]; SSO_LDAP_ADDRESS (Authelia's name) is an alias",
			field: func(c *Config) any { return &c.ldapURL }},
		str(LDAPAddressSetting, "none", "alias of SSO_LDAP_URL (the name Authelia uses); setting both to different values is refused",
			func(l *ldapusers.Config) *string { return &l.Address }),
		{env: "SSO_LDAP_IMPLEMENTATION", kind: kindString, def: ldapusers.Custom,
			help:  "custom (OpenLDAP and others) or activedirectory: picks the defaults of the filters and attributes; activedirectory also refuses accounts with the ACCOUNTDISABLE bit",
			field: func(c *Config) any { return &c.LDAP.Implementation }},
		{env: "SSO_LDAP_TIMEOUT", kind: kindDuration, def: fmtDuration(ldapusers.DefaultTimeout),
			help:  "deadline of connecting (TLS and service bind included) and of each LDAP operation, from 100ms to 1m; past it a login answers 503, never a failed login",
			field: func(c *Config) any { return &c.LDAP.Timeout }},
		{env: "SSO_LDAP_START_TLS", kind: kindBool, defDoc: "false",
			help:  "upgrade the ldap:// connection with StartTLS",
			field: func(c *Config) any { return &c.LDAP.StartTLS }},
		str("SSO_LDAP_TLS_SERVER_NAME", "the address's host", "name the directory's certificate must hold",
			func(l *ldapusers.Config) *string { return &l.TLSServerName }),
		{env: "SSO_LDAP_TLS_SKIP_VERIFY", kind: kindBool, defDoc: "false",
			help:  "accept any certificate from the directory (tests only: anyone on the path can then read passwords)",
			field: func(c *Config) any { return &c.LDAP.TLSSkipVerify }},
		str("SSO_LDAP_TLS_CA_FILE", "none: the system's CAs", "PEM file of the CA certificates that sign the directory's certificate",
			func(l *ldapusers.Config) *string { return &l.TLSCAFile }),
		str("SSO_LDAP_BASE_DN", "", "base DN of the directory, e.g. dc=example,dc=com; required with SSO_LDAP_URL",
			func(l *ldapusers.Config) *string { return &l.BaseDN }),
		str("SSO_LDAP_ADDITIONAL_USERS_DN", "none: the whole base DN", "prefixed to SSO_LDAP_BASE_DN for the user search, e.g. ou=people",
			func(l *ldapusers.Config) *string { return &l.AdditionalUsersDN }),
		str("SSO_LDAP_USERS_FILTER", "(&({username_attribute}={input})(objectClass=person)); activedirectory: also objectCategory=person, objectClass=user and not disabled",
			"filter that finds the user; {input} is the login (escaped), {username_attribute}, {mail_attribute} and {display_name_attribute} the attribute settings. On OpenLDAP add a condition for disabled accounts, e.g. (!(employeeType=disabled))",
			func(l *ldapusers.Config) *string { return &l.UsersFilter }),
		str("SSO_LDAP_USERNAME_ATTRIBUTE", "uid; activedirectory: sAMAccountName", "attribute holding the user name (the session's user)",
			func(l *ldapusers.Config) *string { return &l.UsernameAttribute }),
		str("SSO_LDAP_MAIL_ATTRIBUTE", "mail", "attribute holding the email address",
			func(l *ldapusers.Config) *string { return &l.MailAttribute }),
		str("SSO_LDAP_DISPLAY_NAME_ATTRIBUTE", "displayName", "attribute holding the display name",
			func(l *ldapusers.Config) *string { return &l.DisplayNameAttribute }),
		str("SSO_LDAP_ADDITIONAL_GROUPS_DN", "none: the whole base DN", "prefixed to SSO_LDAP_BASE_DN for the group search, e.g. ou=groups",
			func(l *ldapusers.Config) *string { return &l.AdditionalGroupsDN }),
		str("SSO_LDAP_GROUPS_FILTER", "(&(member={dn})(objectClass=groupOfNames)); activedirectory: (&(member={dn})(|(sAMAccountType=268435456)(sAMAccountType=536870912)))",
			"filter that finds the user's groups (group search mode filter); {dn} is the user's DN, {username} the user name, {input} the login, all escaped",
			func(l *ldapusers.Config) *string { return &l.GroupsFilter }),
		str("SSO_LDAP_GROUP_NAME_ATTRIBUTE", "cn", "attribute of a group holding its name (in memberof mode: the attribute of the group DN's first RDN)",
			func(l *ldapusers.Config) *string { return &l.GroupNameAttribute }),
		{env: "SSO_LDAP_GROUP_SEARCH_MODE", kind: kindString, def: ldapusers.ModeFilter,
			help:  "filter (search the groups with SSO_LDAP_GROUPS_FILTER) or memberof (read the user's memberOf attribute, no second search)",
			field: func(c *Config) any { return &c.LDAP.GroupSearchMode }},
		str("SSO_LDAP_USER", "", "DN of the service account that searches users and groups (read-only is enough); required with SSO_LDAP_URL",
			func(l *ldapusers.Config) *string { return &l.User }),
		{env: "SSO_LDAP_PASSWORD", kind: kindString, secret: true,
			help:  "password of the service account (or SSO_LDAP_PASSWORD_FILE)",
			field: func(c *Config) any { return &c.LDAP.Password }},
		str("SSO_LDAP_PASSWORD_FILE", "", "file holding the service account's password (a trailing newline is dropped), instead of SSO_LDAP_PASSWORD",
			func(l *ldapusers.Config) *string { return &l.PasswordFile }),
		{env: "SSO_LDAP_POOL_SIZE", kind: kindInt, def: strconv.Itoa(ldapusers.DefaultPoolSize),
			help:  "most connections to the directory open at once, from 1 to 100; idle ones are kept for the next login",
			field: func(c *Config) any { return &c.LDAP.PoolSize }},
	}
}

// The LDAP directory's address has two names: SSO_LDAP_URL (the contract's)
// and SSO_LDAP_ADDRESS (Authelia's), which ldapusers' messages use.
const (
	LDAPURLSetting     = "SSO_LDAP_URL"
	LDAPAddressSetting = "SSO_LDAP_ADDRESS"
)

// LDAPSetting is the name under which the LDAP address was given (for
// messages): SSO_LDAP_URL unless only SSO_LDAP_ADDRESS was set.
func (c Config) LDAPSetting() string {
	if c.ldapURL == "" && c.LDAP.Address != "" {
		return LDAPAddressSetting
	}
	return LDAPURLSetting
}

// mergeLDAPURL makes SSO_LDAP_URL the directory's address when
// SSO_LDAP_ADDRESS is not set; both set differently stays for
// validateLDAP to refuse.
func (c *Config) mergeLDAPURL() {
	if c.ldapURL != "" && c.LDAP.Address == "" {
		c.LDAP.Address = c.ldapURL
	}
}

// validateLDAP reports the SSO_LDAP_* settings that ldapusers refuses
// (it owns those rules), and how they sit with the users file.
func (c Config) validateLDAP(bad func(env, value, msg string)) {
	name := c.LDAPSetting()
	if !c.LDAP.Enabled() {
		// A setting without the address is most likely a forgotten one.
		for _, s := range ldapSettings() {
			if s.env != LDAPURLSetting && s.env != LDAPAddressSetting && c.sources[s.env] != "" && c.sources[s.env] != fromDefault {
				bad(s.env, c.value(s), "needs SSO_LDAP_URL (or its alias SSO_LDAP_ADDRESS), which is not set")
			}
		}
		return
	}
	if c.ldapURL != "" && c.LDAP.Address != c.ldapURL {
		bad(LDAPURLSetting, c.ldapURL, "and SSO_LDAP_ADDRESS=\""+c.LDAP.Address+"\" are both set, to different addresses: they are one setting (SSO_LDAP_ADDRESS is Authelia's name for SSO_LDAP_URL); keep one")
		return
	}
	if c.UsersFile != "" {
		// One users backend: a name in both would be two people, and a
		// login would depend on which backend answers first.
		bad(name, c.LDAP.Address, "cannot be used together with SSO_USERS_FILE: choose one users backend")
	}
	for _, p := range c.LDAP.Problems() {
		// ldapusers names the address SSO_LDAP_ADDRESS; say it as given.
		setting, msg := p.Setting, p.Msg
		if name == LDAPURLSetting {
			if setting == LDAPAddressSetting {
				setting = LDAPURLSetting
			}
			msg = strings.ReplaceAll(msg, LDAPAddressSetting, LDAPURLSetting)
		}
		bad(setting, p.Value, msg)
	}
}
