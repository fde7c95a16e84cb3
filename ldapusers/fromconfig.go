package ldapusers

import (
	"fmt"
	"os"
	"strings"

	"github.com/example/sso/config"
)

// FromConfig turns the SSO_LDAP_* settings into a Config, reading
// SSO_LDAP_PASSWORD_FILE. Pass the result to New, which checks the rest.
func FromConfig(c config.Config) (Config, error) {
	l := c.LDAP
	pw := l.Password
	if l.PasswordFile != "" {
		data, err := os.ReadFile(l.PasswordFile)
		if err != nil {
			return Config{}, settingError("SSO_LDAP_PASSWORD_FILE", l.PasswordFile, "cannot be read: "+err.Error())
		}
		// Editors and echo end files with a newline; no password does.
		pw = strings.TrimRight(string(data), "\r\n")
		if pw == "" {
			return Config{}, settingError("SSO_LDAP_PASSWORD_FILE", l.PasswordFile, "is empty")
		}
	}
	if !l.Enabled() {
		return Config{}, fmt.Errorf("ldapusers: SSO_LDAP_ADDRESS is not set")
	}
	return Config{
		Address:              l.Address,
		Implementation:       l.Implementation,
		Timeout:              l.Timeout,
		StartTLS:             l.StartTLS,
		TLSServerName:        l.TLSServerName,
		TLSSkipVerify:        l.TLSSkipVerify,
		TLSCAFile:            l.TLSCAFile,
		BaseDN:               l.BaseDN,
		AdditionalUsersDN:    l.AdditionalUsersDN,
		UsersFilter:          l.UsersFilter,
		UsernameAttribute:    l.UsernameAttribute,
		MailAttribute:        l.MailAttribute,
		DisplayNameAttribute: l.DisplayNameAttribute,
		AdditionalGroupsDN:   l.AdditionalGroupsDN,
		GroupsFilter:         l.GroupsFilter,
		GroupNameAttribute:   l.GroupNameAttribute,
		GroupSearchMode:      l.GroupSearchMode,
		User:                 l.User,
		Password:             pw,
		PoolSize:             l.PoolSize,
	}, nil
}
