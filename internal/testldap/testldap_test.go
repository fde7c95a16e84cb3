package testldap_test

import (
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/example/sso/internal/testldap"
)

// The directory is what the package documents: the service account reads
// alice, whose memberOf the overlay filled in, and cannot read passwords.
func TestStart(t *testing.T) {
	s := testldap.Start(t)
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(testldap.ServiceDN, testldap.ServicePW); err != nil {
		t.Fatalf("service bind: %v", err)
	}
	res, err := c.Search(ldap.NewSearchRequest(testldap.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid=alice)", []string{"memberOf", "mail", "userPassword"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("%d entries for uid=alice, want 1", len(res.Entries))
	}
	e := res.Entries[0]
	got := e.GetAttributeValues("memberOf")
	slices.Sort(got)
	want := []string{"cn=admins,ou=groups," + testldap.BaseDN, "cn=dev,ou=groups," + testldap.BaseDN}
	if !slices.Equal(got, want) {
		t.Errorf("memberOf = %q, want %q", got, want)
	}
	if pw := e.GetAttributeValue("userPassword"); pw != "" {
		t.Errorf("the service account reads userPassword %q", pw)
	}
	if err := c.Bind("uid=bob,ou=people,"+testldap.BaseDN, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind with a wrong password: %v, want invalid credentials", err)
	}
}
