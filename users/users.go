package users

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/example/sso/internal/limitfile"
)

// ErrInvalidCredentials is what Authenticate returns for an unknown user, a
// disabled user and a wrong password alike.
var ErrInvalidCredentials = errors.New("users: invalid credentials")

// User is one entry of the users file, without its password hash.
type User struct {
	Name        string
	DisplayName string
	Email       string
	Groups      []string
	Disabled    bool
}

func (u User) clone() User {
	u.Groups = slices.Clone(u.Groups)
	return u
}

type entry struct {
	user    User
	encoded string
	params  params
}

// Directory is an immutable set of users; it is safe for concurrent use.
type Directory struct {
	byName  map[string]*entry
	byEmail map[string]*entry // lower-cased email
	// dummies are verified for unknown logins so that they cost what a
	// known user costs (no user enumeration by timing): one hash per cost
	// class of the file, each weighted by how many users have it (see
	// dummyFor).
	dummies []dummy
	// dummyTotal is the sum of the dummies' weights.
	dummyTotal int
	// checkMemory is the most memory one password check takes, in bytes.
	checkMemory int64
	// verify is VerifyPassword; tests count calls through it.
	verify func(encoded, password string) (bool, error)
}

// fileUser is one user as Authelia's file backend writes it. Authelia's other
// optional attributes (given_name, address, extra, …) are not listed, so the
// decoder skips them; a listed one of the wrong type is an error.
type fileUser struct {
	DisplayName string   `yaml:"displayname"`
	Email       string   `yaml:"email"`
	Password    string   `yaml:"password"`
	Groups      []string `yaml:"groups"`
	Disabled    bool     `yaml:"disabled"`
}

type file struct {
	Users map[string]*fileUser `yaml:"users"`
}

// LoadFile reads and validates a users file.
func LoadFile(path string) (*Directory, error) {
	data, err := limitfile.Read(path, limitfile.Users)
	if err != nil {
		return nil, fmt.Errorf("users: load users file %q: %w", path, err)
	}
	d, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("users: load users file %q: %w", path, err)
	}
	return d, nil
}

// Parse reads a users file in the shape of Authelia's file backend.
func Parse(data []byte) (*Directory, error) {
	return parse(data, defaultLimits)
}

func parse(data []byte, lim limits) (*Directory, error) {
	var f file
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("users: parse: %w", err)
	}
	names := make([]string, 0, len(f.Users))
	for name := range f.Users {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic error messages
	list := make([]User, 0, len(names))
	hashes := make(map[string]string, len(names))
	for _, name := range names {
		fu := f.Users[name]
		if fu == nil {
			return nil, fmt.Errorf("users: user %q: empty entry", name)
		}
		list = append(list, User{Name: name, DisplayName: fu.DisplayName, Email: fu.Email, Groups: fu.Groups, Disabled: fu.Disabled})
		hashes[name] = fu.Password
	}
	return newDirectory(list, hashes, lim)
}

// New builds a Directory from users and their password hashes, keyed by user
// name. It refuses an empty list, duplicate names, duplicate e-mail addresses
// (case-insensitive), a name that is another user's e-mail address, and any
// hash that is not argon2id or bcrypt within sane parameters.
func New(list []User, hashes map[string]string) (*Directory, error) {
	return newDirectory(list, hashes, defaultLimits)
}

func newDirectory(list []User, hashes map[string]string, lim limits) (*Directory, error) {
	if len(list) == 0 {
		return nil, errors.New("users: no users defined")
	}
	d := &Directory{
		byName:  make(map[string]*entry, len(list)),
		byEmail: make(map[string]*entry, len(list)),
		verify:  VerifyPassword,
	}
	costs := map[string]int{}
	classes := map[string]params{}
	for _, u := range list {
		if err := checkUser(u); err != nil {
			return nil, err
		}
		if _, dup := d.byName[u.Name]; dup {
			return nil, fmt.Errorf("users: user %q defined twice", u.Name)
		}
		encoded, ok := hashes[u.Name]
		if !ok || encoded == "" {
			return nil, fmt.Errorf("users: user %q: no password hash", u.Name)
		}
		p, err := parseHash(encoded, lim)
		if err != nil {
			return nil, fmt.Errorf("users: user %q: %w", u.Name, err)
		}
		e := &entry{user: u.clone(), encoded: encoded, params: p}
		d.byName[u.Name] = e
		if u.Email != "" {
			k := strings.ToLower(u.Email)
			if other, dup := d.byEmail[k]; dup {
				return nil, fmt.Errorf("users: users %q and %q share the e-mail address %q", other.user.Name, u.Name, u.Email)
			}
			d.byEmail[k] = e
		}
		ck := p.costKey()
		costs[ck]++
		classes[ck] = p
		d.checkMemory = max(d.checkMemory, p.checkMemory())
	}
	// A login is a name first, then an e-mail: a name that is someone
	// else's address would make that address unusable and confuse audits.
	for name, e := range d.byName {
		if other, ok := d.byEmail[strings.ToLower(name)]; ok && other != e {
			return nil, fmt.Errorf("users: user name %q is the e-mail address of user %q", name, other.user.Name)
		}
	}
	keys := make([]string, 0, len(classes))
	for k := range classes {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same file picks the same dummy for a name
	for _, k := range keys {
		h, err := dummyHash(classes[k])
		if err != nil {
			return nil, err
		}
		d.dummies = append(d.dummies, dummy{encoded: h, weight: costs[k]})
		d.dummyTotal += costs[k]
	}
	return d, nil
}

// dummy is a hash of a random password with one cost class of the file.
type dummy struct {
	encoded string
	weight  int // users of that class
}

// dummyKey picks dummies; random per process, so that no one can compute
// which class an unknown name falls in.
var dummyKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

// dummyFor is the hash an unknown login is checked against: a class of the
// file chosen by a keyed hash of the login, in proportion to the users in
// each class. The same name always costs the same, like a real user, and
// names spread over the classes as real users do; so neither one timing
// nor many tell an unknown name from a known one, whatever the file mixes.
func (d *Directory) dummyFor(login string) string {
	m := hmac.New(sha256.New, dummyKey)
	m.Write([]byte(login))
	n := int(binary.BigEndian.Uint64(m.Sum(nil)) % uint64(d.dummyTotal))
	for _, x := range d.dummies {
		if n < x.weight {
			return x.encoded
		}
		n -= x.weight
	}
	return d.dummies[len(d.dummies)-1].encoded
}

// CheckMemory returns the most memory one password check against this
// file takes, in bytes: argon2id's m of its costliest hash (bcrypt needs
// a few KiB). A login memory budget divides by it.
func (d *Directory) CheckMemory() int64 { return d.checkMemory }

// dummyHash hashes a random password with the cost parameters of p.
func dummyHash(p params) (string, error) {
	secret := rand.Text()
	switch p.scheme {
	case schemeBcrypt:
		b, err := bcryptHash(secret, p.cost)
		if err != nil {
			return "", fmt.Errorf("users: dummy hash: %w", err)
		}
		return b, nil
	default:
		salt := make([]byte, max(len(p.salt), SaltLen))
		if _, err := rand.Read(salt); err != nil {
			return "", fmt.Errorf("users: dummy hash: %w", err)
		}
		return encodeArgon2id(secret, salt[:len(p.salt)], p.memory, p.time, uint8(p.threads), uint32(len(p.key))), nil
	}
}

func checkUser(u User) error {
	if u.Name == "" {
		return errors.New("users: empty user name")
	}
	if u.Name != strings.TrimSpace(u.Name) || hasControl(u.Name) {
		return fmt.Errorf("users: user name %q has surrounding spaces or control characters", u.Name)
	}
	if hasControl(u.DisplayName) {
		return fmt.Errorf("users: user %q: display name has control characters", u.Name)
	}
	if u.Email != "" && (!strings.Contains(u.Email, "@") || hasControl(u.Email) || strings.ContainsAny(u.Email, " ,")) {
		return fmt.Errorf("users: user %q: invalid e-mail address %q", u.Name, u.Email)
	}
	for _, g := range u.Groups {
		// Groups travel comma-separated in X-Auth-Groups.
		if g == "" || strings.Contains(g, ",") || g != strings.TrimSpace(g) || hasControl(g) {
			return fmt.Errorf("users: user %q: invalid group name %q (empty, comma, surrounding spaces or control characters)", u.Name, g)
		}
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// Authenticate checks a password for login, a user name (exact) or an e-mail
// address (case-insensitive). Every failure is ErrInvalidCredentials, and an
// unknown or disabled user costs one hash verification like a known one.
func (d *Directory) Authenticate(login, password string) (User, error) {
	if password == "" || len(password) > MaxPasswordLen {
		return User{}, ErrInvalidCredentials
	}
	e := d.find(login)
	if e == nil {
		_, _ = d.verify(d.dummyFor(login), password)
		return User{}, ErrInvalidCredentials
	}
	if e.user.Disabled {
		// Its own hash: a disabled user costs what it cost enabled.
		_, _ = d.verify(e.encoded, password)
		return User{}, ErrInvalidCredentials
	}
	ok, err := d.verify(e.encoded, password)
	if err != nil || !ok {
		// err cannot happen for a hash New accepted; treat it as a refusal.
		return User{}, ErrInvalidCredentials
	}
	return e.user.clone(), nil
}

func (d *Directory) find(login string) *entry {
	if e, ok := d.byName[login]; ok {
		return e
	}
	return d.byEmail[strings.ToLower(login)]
}

// Lookup returns the user named name; a disabled user is reported absent.
func (d *Directory) Lookup(name string) (User, bool) {
	e, ok := d.byName[name]
	if !ok || e.user.Disabled {
		return User{}, false
	}
	return e.user.clone(), true
}

// Users returns every user, disabled ones included, sorted by name.
func (d *Directory) Users() []User {
	out := make([]User, 0, len(d.byName))
	for _, e := range d.byName {
		out = append(out, e.user.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Demo returns a one-user directory for dev mode; password is hashed with
// HashPassword.
func Demo(name, email, password string) (*Directory, error) {
	h, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	return New([]User{{Name: name, DisplayName: name, Email: email}}, map[string]string{name: h})
}
