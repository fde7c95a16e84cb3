// Package testldap starts a real OpenLDAP slapd on a free loopback port for
// tests, with a generated directory under BaseDN:
//
//	ou=people: alice (groups admins, dev), bob (dev), carol (disabled:
//	           employeeType=disabled), the service account cn=sso-reader
//	ou=groups: groupOfNames admins and dev, with member; memberOf on the
//	           users through slapd's memberof overlay
//
// and, in a second database under ADBaseDN, an Active Directory-shaped
// one (ADEntries: sAMAccountName, userAccountControl, groups with
// sAMAccountType).
//
// slapd listens on ldap:// (StartTLS offered) and ldaps://, with a throwaway
// CA and a certificate for ServerName. Start skips the test when slapd is
// not installed, or fails it when SSO_REQUIRE_TOOLS=1; the server stops
// when the test ends. The entries are added over LDAP by the root DN after
// start-up, so that the memberof overlay sees them (slapadd bypasses
// overlays).
package testldap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/nginx/nginxtest"
)

// RequireEnv turns a missing slapd from a skip into a failure.
const RequireEnv = "SSO_REQUIRE_TOOLS"

// The directory's fixed names and passwords (test data only).
const (
	BaseDN        = "dc=example,dc=com"
	RootDN        = "cn=admin," + BaseDN
	RootPassword  = "root-secret"
	ServiceDN     = "cn=sso-reader,ou=services," + BaseDN
	ServicePW     = "reader-secret"
	AlicePassword = "alice-pw"
	BobPassword   = "bob-pw"
	CarolPassword = "carol-pw"
	// ServerName is the host name in slapd's certificate; clients connect
	// to 127.0.0.1 and check the certificate against this name.
	ServerName = "ldap.test"
	// DisabledFilter is a users filter that leaves out carol (OpenLDAP has
	// no standard "disabled" flag; this directory marks it with
	// employeeType=disabled).
	DisabledFilter = "(&({username_attribute}={input})(objectClass=person)(!(employeeType=disabled)))"
)

// The Active Directory-shaped directory under ADBaseDN, in the same slapd
// (a second database, with adSchema): users with
// sAMAccountName and userAccountControl, groups of objectClass group with
// sAMAccountType. Its objectCategory values are DNs as in AD, but OpenLDAP
// does not expand objectCategory=person as AD does, so the AD default users
// filter matches nothing here: tests give their own.
const (
	ADBaseDN     = "dc=corp,dc=test"
	ADRootDN     = "cn=admin," + ADBaseDN
	ADServiceDN  = "CN=sso,CN=Users," + ADBaseDN
	ADServicePW  = "ad-reader-secret"
	DavePassword = "dave-pw" // dave: enabled (userAccountControl 512), in group Staff
	ErinPassword = "erin-pw" // erin: disabled (userAccountControl 514), in group Staff
)

const startTimeout = 15 * time.Second

// Server is one running slapd.
type Server struct {
	URL    string // ldap://127.0.0.1:port (StartTLS available)
	LDAPS  string // ldaps://127.0.0.1:port
	CAPEM  []byte // the CA that signed slapd's certificate
	CAFile string // CAPEM written to a file
	Dir    string

	t     testing.TB
	bin   string
	conf  string
	ports [2]int
	mu    sync.Mutex
	proc  *testproc.Proc
}

// Start starts slapd and loads the directory described in the package
// documentation.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testproc.RequireTool(t, RequireEnv, "slapd", "/usr/sbin/slapd")
	for _, f := range []string{"/usr/lib/ldap/back_mdb.so", "/usr/lib/ldap/memberof.so", "/etc/ldap/schema/inetorgperson.schema"} {
		if _, err := os.Stat(f); err != nil {
			if testproc.Required(RequireEnv) {
				t.Fatalf("testldap: %s missing (Debian package slapd) and %s=1", f, RequireEnv)
			}
			t.Skipf("testldap: %s missing (Debian package slapd)", f)
		}
	}
	dir := t.TempDir()
	tlsFiles, err := nginxtest.NewTLS(time.Now().Add(-time.Hour), 24*time.Hour, ServerName)
	if err != nil {
		t.Fatalf("testldap: %v", err)
	}
	s := &Server{Dir: dir, CAPEM: tlsFiles.CAPEM, CAFile: filepath.Join(dir, "ca.pem"), t: t, bin: bin}
	for name, data := range map[string][]byte{"ca.pem": tlsFiles.CAPEM, "cert.pem": tlsFiles.CertPEM, "key.pem": tlsFiles.KeyPEM, "ad.schema": []byte(adSchema)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatalf("testldap: %v", err)
		}
	}
	for _, db := range []string{"db", "addb"} {
		if err := os.Mkdir(filepath.Join(dir, db), 0o700); err != nil {
			t.Fatalf("testldap: %v", err)
		}
	}
	s.conf = filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(s.conf, []byte(config(dir)), 0o600); err != nil {
		t.Fatalf("testldap: %v", err)
	}
	var lastErr error
	for range 3 { // a free port can be taken between probing and binding
		s.ports = [2]int{testproc.FreePort(t), testproc.FreePort(t)}
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("testldap: %v", lastErr)
	}
	if err := s.load(); err != nil {
		t.Fatalf("testldap: load directory: %v", err)
	}
	return s
}

// adSchema holds the few Active Directory attributes and classes the AD
// tests need, with AD's OIDs and matching rules. Debian's msuser.schema
// is not used: it defines memberOf, which breaks the memberof overlay, and
// gives sAMAccountName no equality rule.
const adSchema = `attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.302 NAME 'sAMAccountType' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.750 NAME 'groupType' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.782 NAME 'objectCategory' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP organizationalPerson STRUCTURAL MAY ( sAMAccountName $ userAccountControl $ sAMAccountType $ objectCategory $ displayName $ mail ) )
objectclass ( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL MUST cn MAY ( member $ groupType $ sAMAccountType $ sAMAccountName $ objectCategory $ mail ) )
`

func config(dir string) string {
	return `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include ` + dir + `/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile ` + dir + `/slapd.pid
argsfile ` + dir + `/slapd.args
TLSCACertificateFile ` + dir + `/ca.pem
TLSCertificateFile ` + dir + `/cert.pem
TLSCertificateKeyFile ` + dir + `/key.pem

database mdb
maxsize 10485760
suffix "` + BaseDN + `"
rootdn "` + RootDN + `"
rootpw ` + RootPassword + `
directory ` + dir + `/db
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint true
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="` + ServiceDN + `" read
  by self read
  by * none

database mdb
maxsize 10485760
suffix "` + ADBaseDN + `"
rootdn "` + ADRootDN + `"
rootpw ` + RootPassword + `
directory ` + dir + `/addb
overlay memberof
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="` + ADServiceDN + `" read
  by self read
  by * none
`
}

func (s *Server) start() error {
	s.URL = "ldap://127.0.0.1:" + strconv.Itoa(s.ports[0])
	s.LDAPS = "ldaps://127.0.0.1:" + strconv.Itoa(s.ports[1])
	// -d 0: stay in the foreground (so the test owns the process) without
	// debug output; -h: only our two loopback listeners.
	cmd := exec.Command(s.bin, "-d", "0", "-f", s.conf, "-h", s.URL+"/ "+s.LDAPS+"/")
	cmd.Env = testproc.Environ()
	p := testproc.Start(s.t, "slapd", cmd)
	err := p.Wait(startTimeout, func() error {
		for _, port := range s.ports {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
			if err != nil {
				return err
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		p.Stop()
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// Kill crashes slapd (SIGKILL): clients see their connections reset and new
// ones refused.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc.Kill()
}

// Restart stops slapd if it runs and starts it again on the same ports and
// database (the entries survive: mdb is on disk).
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	p.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("testldap: restart: %v", err)
	}
}

// Pause stops slapd with SIGSTOP: connections are still accepted by the
// kernel, but nothing answers, as with a hung directory. Resume (also
// called when the test ends) continues it.
func (s *Server) Pause() {
	s.t.Helper()
	pid := s.signal(syscall.SIGSTOP)
	s.t.Cleanup(s.Resume)
	// kill returns before every thread has stopped: wait until the
	// kernel says the process is stopped (state T in /proc/pid/stat).
	deadline := time.Now().Add(startTimeout)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			s.t.Fatalf("testldap: %v", err)
		}
		// pid (comm) state ...: comm may hold spaces, so look after ')'.
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "T" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("testldap: slapd not stopped after SIGSTOP: %s", stat)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Resume continues a paused slapd.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) int {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(s.Dir, "slapd.pid"))
	if err != nil {
		s.t.Fatalf("testldap: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		s.t.Fatalf("testldap: slapd.pid: %v", err)
	}
	if err := syscall.Kill(pid, sig); err != nil && !(sig == syscall.SIGCONT && errors.Is(err, syscall.ESRCH)) {
		s.t.Fatalf("testldap: signal %v to slapd: %v", sig, err)
	}
	return pid
}

// Addr is the host:port of the plain listener.
func (s *Server) Addr() string { return strings.TrimPrefix(s.URL, "ldap://") }

// Entry is one entry to add, as attribute -> values.
type Entry struct {
	DN    string
	Attrs map[string][]string
}

// Entries are the directory Start loads, in order (parents first, groups
// after their members).
func Entries() []Entry {
	person := []string{"top", "person", "organizationalPerson", "inetOrgPerson"}
	return []Entry{
		{BaseDN, map[string][]string{"objectClass": {"top", "dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}}},
		{"ou=people," + BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}}},
		{"ou=groups," + BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}}},
		{"ou=services," + BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"services"}}},
		{ServiceDN, map[string][]string{"objectClass": {"top", "person"}, "cn": {"sso-reader"}, "sn": {"reader"}, "userPassword": {ServicePW}}},
		{"uid=alice,ou=people," + BaseDN, map[string][]string{"objectClass": person, "uid": {"alice"}, "cn": {"Alice Doe"}, "sn": {"Doe"},
			"displayName": {"Alice Doe"}, "mail": {"alice@example.test"}, "userPassword": {AlicePassword}}},
		{"uid=bob,ou=people," + BaseDN, map[string][]string{"objectClass": person, "uid": {"bob"}, "cn": {"Bob Roe"}, "sn": {"Roe"},
			"displayName": {"Bob Roe"}, "mail": {"bob@example.test"}, "userPassword": {BobPassword}}},
		{"uid=carol,ou=people," + BaseDN, map[string][]string{"objectClass": person, "uid": {"carol"}, "cn": {"Carol Poe"}, "sn": {"Poe"},
			"mail": {"carol@example.test"}, "userPassword": {CarolPassword}, "employeeType": {"disabled"}}},
		{"cn=admins,ou=groups," + BaseDN, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"admins"},
			"member": {"uid=alice,ou=people," + BaseDN}}},
		{"cn=dev,ou=groups," + BaseDN, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"dev"},
			"member": {"uid=alice,ou=people," + BaseDN, "uid=bob,ou=people," + BaseDN, "uid=carol,ou=people," + BaseDN}}},
	}
}

// ADEntries are the Active Directory-shaped entries under ADBaseDN.
func ADEntries() []Entry {
	users := "CN=Users," + ADBaseDN
	ad := func(class ...string) map[string][]string {
		return map[string][]string{"objectClass": class, "objectCategory": {"CN=Person,CN=Schema,CN=Configuration," + ADBaseDN}}
	}
	with := func(m map[string][]string, kv ...string) map[string][]string {
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = append(m[kv[i]], kv[i+1])
		}
		return m
	}
	person := []string{"top", "person", "organizationalPerson", "user"}
	dave, erin := "CN=Dave Example,"+users, "CN=Erin Example,"+users
	return []Entry{
		{ADBaseDN, map[string][]string{"objectClass": {"top", "dcObject", "organization"}, "dc": {"corp"}, "o": {"Corp"}}},
		{users, map[string][]string{"objectClass": {"top", "organizationalRole"}, "cn": {"Users"}}},
		{ADServiceDN, map[string][]string{"objectClass": {"top", "person"}, "cn": {"sso"}, "sn": {"sso"}, "userPassword": {ADServicePW}}},
		{dave, with(ad(person...), "cn", "Dave Example", "sn", "Example", "sAMAccountName", "dave", "userAccountControl", "512",
			"mail", "dave@corp.test", "displayName", "Dave Example", "userPassword", DavePassword)},
		{erin, with(ad(person...), "cn", "Erin Example", "sn", "Example", "sAMAccountName", "erin", "userAccountControl", "514",
			"mail", "erin@corp.test", "userPassword", ErinPassword)},
		// A global security group, and a group-class entry whose
		// sAMAccountType is no group's, which the AD groups filter leaves out.
		{"CN=Staff," + users, with(ad("top", "group"), "cn", "Staff", "groupType", "-2147483646", "sAMAccountType", "268435456",
			"member", dave, "member", erin)},
		{"CN=Not A Group," + users, with(ad("top", "group"), "cn", "Not A Group", "groupType", "2", "sAMAccountType", "805306368",
			"member", dave)},
	}
}

func (s *Server) load() error {
	for _, db := range []struct {
		root    string
		entries []Entry
	}{{RootDN, Entries()}, {ADRootDN, ADEntries()}} {
		c, err := s.conn(db.root)
		if err != nil {
			return err
		}
		for _, e := range db.entries {
			if err := Add(c, e); err != nil {
				c.Close()
				return err
			}
		}
		c.Close()
	}
	return nil
}

// Add adds e over c.
func Add(c *ldap.Conn, e Entry) error {
	req := ldap.NewAddRequest(e.DN, nil)
	for k, v := range e.Attrs {
		req.Attribute(k, v)
	}
	if err := c.Add(req); err != nil {
		return fmt.Errorf("add %s: %w", e.DN, err)
	}
	return nil
}

// RootConn is a connection bound as the root DN, for a test that changes
// the directory; the caller closes it.
func (s *Server) RootConn() (*ldap.Conn, error) { return s.conn(RootDN) }

func (s *Server) conn(rootDN string) (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(10 * time.Second)
	if err := c.Bind(rootDN, RootPassword); err != nil {
		c.Close()
		return nil, fmt.Errorf("bind %s: %w", rootDN, err)
	}
	return c, nil
}
