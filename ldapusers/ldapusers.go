package ldapusers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/example/sso/users"
)

// ErrUnavailable is wrapped by every error that is not the directory's
// answer about the credentials: the directory is down, slow past the
// timeout, refuses the service account, or answers something unexpected.
// It must never count as a failed login, and never give a session.
var ErrUnavailable = errors.New("ldapusers: directory unavailable")

// errClosed: the Directory was closed.
var errClosed = errors.New("directory closed")

// MaxLoginLength bounds the login names Authenticate sends to the directory.
const MaxLoginLength = 256

// accountDisable is the ACCOUNTDISABLE bit of Active Directory's
// userAccountControl.
const accountDisable = 0x2

// Directory authenticates users against an LDAP directory: it searches the
// user with the service account, then binds as the entry found with the
// password given. It keeps a bounded pool of service-account connections.
// It is safe for concurrent use.
type Directory struct {
	cfg      Config
	hostport string
	ldaps    bool
	tls      *tls.Config

	slots chan struct{} // one per open connection (PoolSize)
	idle  chan *conn    // connections bound as the service account

	mu     sync.Mutex
	closed bool

	dials atomic.Int64
}

// conn is a pooled connection; used records that an operation succeeded on
// it since it was taken, so that a failure before that may be retried on a
// fresh connection (a pooled one may have died while idle).
type conn struct {
	*ldap.Conn
	used bool
}

// New checks cfg, fills its defaults and returns a Directory. It does not
// connect: the first Authenticate does, so that sso starts while the
// directory is down (logins then fail with ErrUnavailable).
func New(cfg Config) (*Directory, error) {
	cfg, probs := cfg.normalize()
	if len(probs) > 0 {
		errs := make([]error, len(probs))
		for i, p := range probs {
			errs[i] = fmt.Errorf("ldapusers: %w", p)
		}
		return nil, errors.Join(errs...)
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	hostport, ldaps, _ := parseAddress(cfg.Address)
	return &Directory{
		cfg: cfg, hostport: hostport, ldaps: ldaps, tls: tc,
		slots: make(chan struct{}, cfg.PoolSize),
		idle:  make(chan *conn, cfg.PoolSize),
	}, nil
}

// Config returns the configuration in force, defaults filled in (the
// password included: do not log it).
func (d *Directory) Config() Config { return d.cfg }

// Stats are counters for metrics and tests.
type Stats struct {
	Dials int64 // connections opened so far
	Idle  int   // connections waiting in the pool
}

// Stats returns the counters.
func (d *Directory) Stats() Stats { return Stats{Dials: d.dials.Load(), Idle: len(d.idle)} }

// Close closes the idle connections; connections in use close when they
// are given back. Later calls fail with ErrUnavailable.
func (d *Directory) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	for {
		select {
		case c := <-d.idle:
			c.Close()
		default:
			return nil
		}
	}
}

// Authenticate checks login and password and returns the user, whose Name
// is the directory's username attribute (not the login as typed). An
// unknown login, a wrong password and a disabled account all give
// users.ErrInvalidCredentials; a directory that cannot answer gives an
// error wrapping ErrUnavailable. An empty password is refused before
// anything is sent: LDAP servers take a bind with an empty password as an
// unauthenticated bind, which succeeds (RFC 4513 §5.1.2).
func (d *Directory) Authenticate(ctx context.Context, login, password string) (users.User, error) {
	if password == "" || !validLogin(login) {
		return users.User{}, users.ErrInvalidCredentials
	}
	var u users.User
	err := d.withConn(ctx, func(c *conn) error {
		e, err := d.findUser(ctx, c, login)
		if err != nil {
			return err
		}
		bindErr := d.op(ctx, c, func() error { return c.Bind(e.DN, password) })
		// Unwilling: how some servers say disabled or locked.
		refused := ldap.IsErrorAnyOf(bindErr, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultUnwillingToPerform)
		if bindErr != nil && !refused {
			c.Close() // its state is unknown
			return fmt.Errorf("%w: bind as the user: %w", ErrUnavailable, bindErr)
		}
		// Back to the service account before anything else runs on the
		// connection: after a failed bind it is anonymous, after a good
		// one it is the user.
		if err := d.op(ctx, c, func() error { return c.Bind(d.cfg.User, d.cfg.Password) }); err != nil {
			c.Close() // the pool drops it
			if refused {
				return users.ErrInvalidCredentials // the directory's answer stands
			}
			return fmt.Errorf("%w: rebind as the service account: %w", ErrUnavailable, err)
		}
		if refused {
			return users.ErrInvalidCredentials
		}
		u, err = d.user(ctx, c, login, e)
		return err
	})
	if err != nil {
		if errors.Is(err, users.ErrInvalidCredentials) {
			return users.User{}, err
		}
		return users.User{}, d.unavailable(err)
	}
	return u, nil
}

// Lookup returns the user whose username attribute is name, for a periodic
// re-check of sessions: false when there is none or it is disabled (the
// users filter leaves it out, or AD's ACCOUNTDISABLE), an error wrapping
// ErrUnavailable when the directory cannot answer.
func (d *Directory) Lookup(ctx context.Context, name string) (users.User, bool, error) {
	if !validLogin(name) {
		return users.User{}, false, nil
	}
	var u users.User
	err := d.withConn(ctx, func(c *conn) error {
		e, err := d.findUser(ctx, c, name)
		if err != nil {
			return err
		}
		if !strings.EqualFold(e.GetEqualFoldAttributeValue(d.cfg.UsernameAttribute), name) {
			return users.ErrInvalidCredentials // the filter matched on another attribute
		}
		u, err = d.user(ctx, c, name, e)
		return err
	})
	switch {
	case err == nil:
		return u, true, nil
	case errors.Is(err, users.ErrInvalidCredentials):
		return users.User{}, false, nil
	default:
		return users.User{}, false, d.unavailable(err)
	}
}

// unavailable makes sure err wraps ErrUnavailable.
func (d *Directory) unavailable(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, d.cfg.Address, err)
}

// validLogin refuses what no directory's user name holds, before it is
// sent anywhere; escaping (userFilter) makes anything else harmless.
func validLogin(s string) bool {
	if s == "" || len(s) > MaxLoginLength || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// findUser searches the one entry the users filter matches for login.
// None, several or a disabled AD account: users.ErrInvalidCredentials.
func (d *Directory) findUser(ctx context.Context, c *conn, login string) (*ldap.Entry, error) {
	attrs := []string{d.cfg.UsernameAttribute, d.cfg.MailAttribute, d.cfg.DisplayNameAttribute}
	if d.cfg.GroupSearchMode == ModeMemberOf {
		attrs = append(attrs, "memberOf")
	}
	if d.cfg.Implementation == ActiveDirectory {
		attrs = append(attrs, "userAccountControl")
	}
	req := ldap.NewSearchRequest(d.usersBase(), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, d.timeLimit(), false, d.cfg.userFilter(login), attrs, nil)
	var res *ldap.SearchResult
	err := d.op(ctx, c, func() (err error) { res, err = c.Search(req); return err })
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		// More than one entry: the filter is ambiguous for this login
		// (say it matches uid or mail); refuse rather than pick one.
		return nil, fmt.Errorf("%w: more than one entry matches the users filter", users.ErrInvalidCredentials)
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, fmt.Errorf("%w: base %q does not exist", ErrUnavailable, d.usersBase())
	}
	if err != nil {
		return nil, fmt.Errorf("search user: %w", err)
	}
	switch len(res.Entries) {
	case 0:
		return nil, users.ErrInvalidCredentials
	case 1:
	default:
		return nil, fmt.Errorf("%w: more than one entry matches the users filter", users.ErrInvalidCredentials)
	}
	e := res.Entries[0]
	if e.DN == "" {
		return nil, users.ErrInvalidCredentials // a bind with an empty DN would be anonymous
	}
	if d.cfg.Implementation == ActiveDirectory {
		if uac, err := strconv.ParseInt(e.GetEqualFoldAttributeValue("userAccountControl"), 10, 64); err == nil && uac&accountDisable != 0 {
			return nil, users.ErrInvalidCredentials
		}
	}
	return e, nil
}

// user builds the users.User of entry e, with its groups.
func (d *Directory) user(ctx context.Context, c *conn, input string, e *ldap.Entry) (users.User, error) {
	u := users.User{
		Name:        e.GetEqualFoldAttributeValue(d.cfg.UsernameAttribute),
		Email:       e.GetEqualFoldAttributeValue(d.cfg.MailAttribute),
		DisplayName: e.GetEqualFoldAttributeValue(d.cfg.DisplayNameAttribute),
	}
	if u.Name == "" {
		// Without it there is no stable name for the session.
		return users.User{}, fmt.Errorf("%w: entry has no %s", users.ErrInvalidCredentials, d.cfg.UsernameAttribute)
	}
	if d.cfg.GroupSearchMode == ModeMemberOf {
		for _, dn := range e.GetEqualFoldAttributeValues("memberOf") {
			if g := groupFromDN(dn, d.cfg.GroupNameAttribute); g != "" {
				u.Groups = append(u.Groups, g)
			}
		}
	} else {
		req := ldap.NewSearchRequest(d.groupsBase(), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, d.timeLimit(), false, d.cfg.groupFilter(input, u.Name, e.DN), []string{d.cfg.GroupNameAttribute}, nil)
		var res *ldap.SearchResult
		if err := d.op(ctx, c, func() (err error) { res, err = c.Search(req); return err }); err != nil {
			return users.User{}, fmt.Errorf("%w: search groups: %w", ErrUnavailable, err)
		}
		for _, g := range res.Entries {
			if name := g.GetEqualFoldAttributeValue(d.cfg.GroupNameAttribute); name != "" {
				u.Groups = append(u.Groups, name)
			}
		}
	}
	slices.Sort(u.Groups)
	u.Groups = slices.Compact(u.Groups)
	return u, nil
}

func (d *Directory) usersBase() string  { return joinDN(d.cfg.AdditionalUsersDN, d.cfg.BaseDN) }
func (d *Directory) groupsBase() string { return joinDN(d.cfg.AdditionalGroupsDN, d.cfg.BaseDN) }

func joinDN(prefix, base string) string {
	if prefix == "" {
		return base
	}
	return prefix + "," + base
}

// timeLimit is the server-side time limit of a search, in whole seconds.
func (d *Directory) timeLimit() int {
	return int((d.cfg.Timeout + time.Second - 1) / time.Second)
}

// op runs one LDAP operation on c within the timeout and ctx: the
// client-side timeout is the shorter of the two, and ctx ending closes the
// connection, which aborts the operation at once.
func (d *Directory) op(ctx context.Context, c *conn, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := d.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		t = min(t, time.Until(dl))
	}
	if t <= 0 {
		return context.DeadlineExceeded
	}
	c.SetTimeout(t)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err := f()
	if cerr := ctxDone(ctx); !stop() || (err != nil && cerr != nil) {
		err = errors.Join(cerr, err)
	}
	if err == nil {
		c.used = true
	} else if !serverAnswer(err) {
		// A timeout or broken connection leaves its state unknown: a late
		// answer to a bind could still change who it is bound as.
		c.Close()
	}
	return err
}

// serverAnswer reports whether err is a result the server sent (an LDAP
// result code), rather than the client giving up (codes from 200 up).
func serverAnswer(err error) bool {
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork
}

// withConn runs fn on a pooled connection. When fn fails with a network
// error before any operation succeeded on a connection that had been idle
// (the server may have closed it, or restarted), fn runs once more on a
// fresh connection.
func (d *Directory) withConn(ctx context.Context, fn func(c *conn) error) error {
	if err := d.acquire(ctx); err != nil {
		return err
	}
	defer func() { <-d.slots }()
	c, fresh, err := d.get(ctx)
	if err != nil {
		return err
	}
	err = fn(c)
	if err != nil && !fresh && !c.used && isNetwork(err) && ctx.Err() == nil {
		c.Close()
		if c, err = d.dial(ctx); err != nil {
			return err
		}
		err = fn(c)
	}
	d.put(c)
	return err
}

// acquire takes a connection slot, waiting at most the timeout.
func (d *Directory) acquire(ctx context.Context) error {
	select {
	case d.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(d.cfg.Timeout)
	defer t.Stop()
	select {
	case d.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a connection: %w", ctx.Err())
	case <-t.C:
		return fmt.Errorf("%w: all %d connections busy for %v", ErrUnavailable, d.cfg.PoolSize, d.cfg.Timeout)
	}
}

// get returns an idle connection, or a new one (fresh).
func (d *Directory) get(ctx context.Context) (*conn, bool, error) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return nil, false, fmt.Errorf("%w: %w", ErrUnavailable, errClosed)
	}
	for {
		select {
		case c := <-d.idle:
			if c.IsClosing() {
				continue // the server hung up while it was idle
			}
			c.used = false
			return c, false, nil
		default:
			c, err := d.dial(ctx)
			return c, true, err
		}
	}
}

// put gives c back to the pool, unless it is closed or the pool is.
func (d *Directory) put(c *conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || c.IsClosing() {
		c.Close()
		return
	}
	select {
	case d.idle <- c:
	default:
		c.Close()
	}
}

// dial opens a connection (TLS or StartTLS as configured) and binds it as
// the service account, all within the timeout and ctx.
func (d *Directory) dial(ctx context.Context) (_ *conn, err error) {
	d.dials.Add(1)
	defer func() {
		if cerr := ctxDone(ctx); err != nil && cerr != nil && !errors.Is(err, cerr) {
			// The socket deadline came from ctx: say so.
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
	}()
	dctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var nd net.Dialer
	raw, err := nd.DialContext(dctx, "tcp", d.hostport)
	if err != nil {
		return nil, fmt.Errorf("%w: connect: %w", ErrUnavailable, err)
	}
	// Until the service bind is done, the deadline bounds every read and
	// write, the TLS handshakes included; ctx ending closes the socket.
	deadline, _ := dctx.Deadline()
	_ = raw.SetDeadline(deadline)
	stop := context.AfterFunc(dctx, func() { raw.Close() })
	defer stop()
	nc := raw
	if d.ldaps {
		tc := tls.Client(raw, d.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("%w: TLS handshake: %w", ErrUnavailable, err)
		}
		nc = tc
	}
	lc := ldap.NewConn(nc, d.ldaps)
	lc.Start()
	lc.SetTimeout(d.cfg.Timeout)
	if d.cfg.StartTLS {
		if err := lc.StartTLS(d.tls); err != nil {
			lc.Close()
			return nil, fmt.Errorf("%w: StartTLS: %w", ErrUnavailable, err)
		}
	}
	if err := lc.Bind(d.cfg.User, d.cfg.Password); err != nil {
		lc.Close()
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return nil, fmt.Errorf("%w: the directory refuses the service account SSO_LDAP_USER=%q: %w", ErrUnavailable, d.cfg.User, err)
		}
		return nil, fmt.Errorf("%w: bind as the service account: %w", ErrUnavailable, err)
	}
	if !stop() {
		lc.Close()
		return nil, fmt.Errorf("%w: connect: %w", ErrUnavailable, dctx.Err())
	}
	_ = raw.SetDeadline(time.Time{})
	return &conn{Conn: lc}, nil
}

// ctxDone is ctx.Err(), also when ctx's deadline has passed but its timer
// has not fired yet (a socket deadline set from it can fire first).
func ctxDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// isNetwork reports whether err is the connection failing rather than the
// server answering.
func isNetwork(err error) bool {
	var ne net.Error
	return ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || errors.As(err, &ne)
}
