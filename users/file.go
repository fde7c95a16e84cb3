package users

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/example/sso/audit"
	"github.com/example/sso/internal/limitfile"
)

// DefaultDebounce is how long Watch waits after the last change it sees in
// the file's directory before it reads the file: an editor or a deployment
// tool writes in several steps (truncate, write, rename, chmod), and a read
// in between would see a half-written file.
const DefaultDebounce = 200 * time.Millisecond

// maxWaitFactor bounds the debounce: a directory that never goes quiet for
// Debounce still has the file read at least every maxWaitFactor × Debounce.
const maxWaitFactor = 10

// File is a users file that is re-read while it is in use. Authenticate and
// Lookup ask the Directory read last; Reload and Watch replace it, in one
// atomic step, with one read from the file as it is now, and only when that
// parses and validates: a file that does not keeps the previous users in
// force. A File is safe for concurrent use.
type File struct {
	path     string
	log      *slog.Logger
	onChange func(Change)
	debounce time.Duration
	lim      limits

	cur atomic.Pointer[Directory]

	mu      sync.Mutex // serialises reloads; guards sum and refused
	sum     string     // hash of the content cur was read from
	refused string     // hash (or read error) of the last refusal; "" after a success

	// watching, when set, is called once Watch's watch is in place (tests).
	watching func()
}

// FileOptions are the optional parts of a File. The zero value logs nothing
// and calls no hook.
type FileOptions struct {
	// Log gets one line per reload that changes the users (with counts),
	// and one per refused file (naming the file and the problem, never a
	// hash). nil: nothing is logged.
	Log *slog.Logger
	// OnChange is called after each reload that changed anything, once the
	// new users are in force. Calls never overlap and come in the order of
	// the reloads; a reload waits for the previous call to return. nil: no
	// hook.
	OnChange func(Change)
	// Debounce is how long Watch waits for the directory to go quiet
	// before it reads the file. Zero: DefaultDebounce.
	Debounce time.Duration
}

// Change is what one reload changed, by user name; each list is sorted.
type Change struct {
	Added    []string // in the new file only
	Removed  []string // in the old file only, whether or not they were disabled
	Disabled []string // enabled before, disabled now
	Enabled  []string // disabled before, enabled now
	// Changed are in both files, enabled or disabled as before, with a
	// different display name, e-mail address, groups or password hash.
	Changed []string
	// Revoked are the users who were enabled before and are now removed or
	// disabled: everything they hold (sessions, API keys, JWTs) is refused
	// from now on, since every request looks its user up.
	Revoked []string
	// Rekeyed are in both files, enabled now, with a different password
	// hash (a reset, or the same password hashed anew: the file cannot
	// tell): what they signed in to before should end. Each is in Changed
	// or Enabled too.
	Rekeyed []string
}

// Empty reports whether the reload changed nothing.
func (c Change) Empty() bool {
	return len(c.Added)+len(c.Removed)+len(c.Disabled)+len(c.Enabled)+len(c.Changed) == 0
}

// OpenFile reads and validates the users file at path, as LoadFile does,
// and returns it ready for Reload and Watch.
func OpenFile(path string, opt FileOptions) (*File, error) {
	return openFile(path, opt, defaultLimits)
}

func openFile(path string, opt FileOptions, lim limits) (*File, error) {
	f := &File{path: path, log: opt.Log, onChange: opt.OnChange, debounce: opt.Debounce, lim: lim}
	if f.log == nil {
		f.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if f.debounce <= 0 {
		f.debounce = DefaultDebounce
	}
	data, err := limitfile.Read(path, limitfile.Users)
	if err != nil {
		return nil, fmt.Errorf("users: load users file %q: %w", path, err)
	}
	d, err := parse(data, lim)
	if err != nil {
		return nil, fmt.Errorf("users: load users file %q: %w", path, err)
	}
	f.cur.Store(d)
	f.sum = contentSum(data)
	return f, nil
}

// Path is the file's path as given to OpenFile.
func (f *File) Path() string { return f.path }

// Directory returns the users in force now. It stays as it is when the file
// is reloaded: ask again for the new users.
func (f *File) Directory() *Directory { return f.cur.Load() }

// Authenticate checks a password against the users in force now; see
// Directory.Authenticate.
func (f *File) Authenticate(login, password string) (User, error) {
	return f.cur.Load().Authenticate(login, password)
}

// CheckMemory is Directory.CheckMemory of the users in force.
func (f *File) CheckMemory() int64 { return f.cur.Load().CheckMemory() }

// Lookup returns the user named name from the users in force now; a
// disabled or removed user is absent. See Directory.Lookup.
func (f *File) Lookup(name string) (User, bool) {
	return f.cur.Load().Lookup(name)
}

// Reload reads the file again. When its content is unchanged it logs so
// and does nothing else; when it parses and validates, its users replace the ones in
// force, one line with counts is logged and OnChange is called; otherwise
// the previous users stay in force, one line naming the file and the
// problem is logged, and the error is returned (callers need not log it
// again).
func (f *File) Reload() error {
	return f.reload(false)
}

// reload is Reload. quiet (the watcher) stays silent about a content it
// refused already, so one broken save logs one line however many events
// it causes.
func (f *File) reload(quiet bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := limitfile.Read(f.path, limitfile.Users)
	if err != nil {
		return f.refuse(err.Error(), err, quiet)
	}
	sum := contentSum(data)
	if sum == f.sum {
		if f.refused != "" {
			// Back to the content in force after a refusal: say so, or the
			// last word in the log would be the refusal.
			f.refused = ""
			f.log.Info("users file is valid again; its users are unchanged", "path", f.path)
			return nil
		}
		// The watcher sees many events that change nothing (a chmod, a
		// save without edits); someone who asked for a reload wants an
		// answer.
		level := slog.LevelInfo
		if quiet {
			level = slog.LevelDebug
		}
		f.log.Log(context.Background(), level, "users file unchanged", "path", f.path)
		return nil
	}
	d, err := parse(data, f.lim)
	if err != nil {
		return f.refuse(sum, err, quiet)
	}
	old := f.cur.Swap(d)
	f.sum, f.refused = sum, ""
	c := diff(old, d)
	// An audit event (docs/audit.md): who lost access is named.
	f.log.Info("users file reloaded", "event", audit.UsersReloaded, "outcome", audit.OK, "path", f.path, "users", len(d.byName),
		"added", len(c.Added), "removed", len(c.Removed), "disabled", len(c.Disabled),
		"enabled", len(c.Enabled), "changed", len(c.Changed), "revoked", revokedNames(c.Revoked),
		"password_changed", revokedNames(c.Rekeyed))
	if f.onChange != nil && !c.Empty() {
		f.onChange(c)
	}
	return nil
}

// refuse logs a refused file once per distinct refusal (key) when quiet,
// and every time otherwise, and returns err wrapped with the file's path.
func (f *File) refuse(key string, err error, quiet bool) error {
	if quiet && key == f.refused {
		f.log.Debug("users file still refused", "path", f.path)
	} else {
		f.refused = key
		// The YAML decoder puts each problem on a line of its own; the
		// log gets one line. Parse errors name users and fields, never a
		// hash (the decoder quotes at most 7 characters of a value).
		f.log.Error("users file refused; the previous users stay in force", "event", audit.UsersReloaded, "outcome", audit.Refused, "path", f.path, "err", flatten(err.Error()))
	}
	return fmt.Errorf("users: reload users file %q: %w", f.path, err)
}

// revokedNames is the revoked users for the audit event: a JSON array with
// SSO_LOG_FORMAT=json, never null.
func revokedNames(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

// flatten puts a multi-line error on one line: "unmarshal errors:\n  line
// 2: …\n  line 5: …" becomes "unmarshal errors: line 2: …; line 5: …".
func flatten(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if i > 0 && l != "" {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

func contentSum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// diff compares two directories by user name.
func diff(old, cur *Directory) Change {
	var c Change
	for name, n := range cur.byName {
		o, ok := old.byName[name]
		switch {
		case !ok:
			c.Added = append(c.Added, name)
		case !o.user.Disabled && n.user.Disabled:
			c.Disabled = append(c.Disabled, name)
			c.Revoked = append(c.Revoked, name)
		case o.user.Disabled && !n.user.Disabled:
			c.Enabled = append(c.Enabled, name)
		case !sameEntry(o, n):
			c.Changed = append(c.Changed, name)
		}
		if ok && !n.user.Disabled && o.encoded != n.encoded {
			c.Rekeyed = append(c.Rekeyed, name)
		}
	}
	for name, o := range old.byName {
		if _, ok := cur.byName[name]; !ok {
			c.Removed = append(c.Removed, name)
			if !o.user.Disabled {
				c.Revoked = append(c.Revoked, name)
			}
		}
	}
	for _, l := range []*[]string{&c.Added, &c.Removed, &c.Disabled, &c.Enabled, &c.Changed, &c.Revoked, &c.Rekeyed} {
		slices.Sort(*l)
	}
	return c
}

func sameEntry(a, b *entry) bool {
	return a.encoded == b.encoded && a.user.DisplayName == b.user.DisplayName &&
		a.user.Email == b.user.Email && slices.Equal(a.user.Groups, b.user.Groups)
}

// Watch reloads the file whenever it changes, until ctx ends; it returns
// nil then, or an error at once when it cannot watch. It watches the
// file's directory, not the file: editors save by writing a new file and
// renaming it over the old one, and Kubernetes updates a mounted ConfigMap
// by swapping a symbolic link, and neither is a change to the file that
// was watched. Any event in the directory that touches the file's name, or
// changes what its path resolves to, is a reason to read it, after
// Debounce of quiet; content equal to what was read last is not parsed
// again. A symbolic link to a file in another directory is followed only
// when the link itself changes: edits of its target are seen on Reload
// (SIGHUP) only.
func (f *File) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("users: watch users file %q: %w", f.path, err)
	}
	defer w.Close()
	resolved := f.resolve()
	dir := filepath.Dir(f.path)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("users: watch users file %q: directory %q: %w", f.path, dir, err)
	}
	f.log.Info("watching the users file for changes", "path", f.path)
	if f.watching != nil {
		f.watching()
	}
	var (
		timer *time.Timer
		fire  <-chan time.Time
		first time.Time
	)
	schedule := func() {
		now := time.Now()
		switch {
		case fire == nil:
			first = now
			if timer == nil {
				timer = time.NewTimer(f.debounce)
			} else {
				timer.Reset(f.debounce)
			}
			fire = timer.C
		case now.Sub(first) < maxWaitFactor*f.debounce:
			timer.Reset(f.debounce)
		}
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// A change made since the file was read last, before the watch was in
	// place, caused no event: look once.
	schedule()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			r := f.resolve()
			if filepath.Clean(ev.Name) == filepath.Clean(f.path) || r != resolved {
				resolved = r
				schedule()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow of the kernel's queue loses events: read anyway.
			f.log.Warn("watching the users file", "path", f.path, "err", err)
			schedule()
		case <-fire:
			fire = nil
			_ = f.reload(true) // logged
		}
	}
}

// resolve is where f.path leads now through symbolic links, or "" when it
// leads nowhere.
func (f *File) resolve() string {
	r, err := filepath.EvalSymlinks(f.path)
	if err != nil {
		return ""
	}
	return r
}
