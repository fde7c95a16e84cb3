package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/sso/internal/testproc"
)

// fileSpec is one user of renderUsers, which renders a users file; each user's password is its name + "-pw".
type fileSpec struct {
	name     string
	groups   string // YAML flow list, "" for none
	disabled bool
	password string // "": name+"-pw"
}

func renderUsers(t testing.TB, spec ...fileSpec) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("users:\n")
	for _, u := range spec {
		pw := u.password
		if pw == "" {
			pw = u.name + "-pw"
		}
		fmt.Fprintf(&b, "  %s:\n    email: %s@example.test\n    password: %q\n", u.name, u.name, cheapHash(t, pw))
		if u.groups != "" {
			fmt.Fprintf(&b, "    groups: %s\n", u.groups)
		}
		if u.disabled {
			b.WriteString("    disabled: true\n")
		}
	}
	return []byte(b.String())
}

// writeFile writes data in place, as `cat > users.yml` or an editor without
// a backup copy does: same inode, truncated and rewritten.
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// renameOver writes data to a new file in the same directory and renames it
// over path, as most editors and config tools save.
func renameOver(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type fileTest struct {
	path    string
	f       *File
	log     *testproc.Buffer
	mu      sync.Mutex
	changes []Change
}

// openTest writes data as users.yml in a fresh directory and opens it,
// logging at debug level into ft.log and recording every Change.
func openTest(t *testing.T, data []byte) *fileTest {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yml")
	writeFile(t, path, data)
	return openPath(t, path)
}

// openPath opens the users file at path as openTest does.
func openPath(t *testing.T, path string) *fileTest {
	t.Helper()
	ft := &fileTest{path: path, log: &testproc.Buffer{}}
	f, err := OpenFile(ft.path, FileOptions{
		Log:      slog.New(slog.NewTextHandler(ft.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnChange: func(c Change) { ft.mu.Lock(); ft.changes = append(ft.changes, c); ft.mu.Unlock() },
		Debounce: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	ft.f = f
	return ft
}

func (ft *fileTest) changeList() []Change {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return slices.Clone(ft.changes)
}

// lines returns the log lines whose level is level.
func (ft *fileTest) lines(level string) []string {
	var out []string
	for _, l := range strings.Split(ft.log.String(), "\n") {
		if strings.Contains(l, "level="+level+" ") {
			out = append(out, l)
		}
	}
	return out
}

// watch runs Watch until the test ends and returns once it watches.
func (ft *fileTest) watch(t *testing.T) {
	t.Helper()
	ready := make(chan struct{})
	ft.f.watching = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ft.f.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return within 5s of cancel")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Watch returned before watching: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not start within 5s")
	}
}

// waitFor polls cond for up to 2s and returns how long it took.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("%s: not within 2s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func TestFileReloadSwaps(t *testing.T) {
	ft := openTest(t, renderUsers(t,
		fileSpec{name: "alice", groups: "[admins]"},
		fileSpec{name: "bob"},
		fileSpec{name: "carol", disabled: true},
		fileSpec{name: "dave", groups: "[dev]"},
		fileSpec{name: "frank", disabled: true},
		fileSpec{name: "grace"},
	))
	before := ft.f.Directory()
	if u, err := ft.f.Authenticate("alice", "alice-pw"); err != nil || u.Name != "alice" {
		t.Fatalf("Authenticate(alice) = %q, %v before the reload", u.Name, err)
	}

	writeFile(t, ft.path, renderUsers(t,
		fileSpec{name: "bob", disabled: true},
		fileSpec{name: "carol"},
		fileSpec{name: "dave", groups: "[dev, ops]"},
		fileSpec{name: "erin"},
		fileSpec{name: "grace", password: "grace-reset"},
	))
	if err := ft.f.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	for name, want := range map[string]bool{"alice": false, "bob": false, "carol": true, "dave": true, "erin": true, "frank": false, "grace": true} {
		if _, ok := ft.f.Lookup(name); ok != want {
			t.Errorf("Lookup(%q) after the reload = %v, want %v", name, ok, want)
		}
	}
	if _, err := ft.f.Authenticate("alice", "alice-pw"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("Authenticate(alice) after her removal = %v, want ErrInvalidCredentials", err)
	}
	if u, err := ft.f.Authenticate("erin@example.test", "erin-pw"); err != nil || u.Name != "erin" {
		t.Errorf("Authenticate(erin) = %q, %v; want erin", u.Name, err)
	}
	if u, _ := ft.f.Lookup("dave"); !slices.Equal(u.Groups, []string{"dev", "ops"}) {
		t.Errorf("dave's groups = %q, want [dev ops]", u.Groups)
	}
	// A Directory handed out before stays what it was.
	if _, ok := before.Lookup("alice"); !ok {
		t.Error("the Directory read before the reload lost alice")
	}
	if ft.f.Directory() == before {
		t.Error("Directory() is the old one after the reload")
	}

	changes := ft.changeList()
	if len(changes) != 1 {
		t.Fatalf("OnChange called %d times, want 1", len(changes))
	}
	want := Change{
		Added:    []string{"erin"},
		Removed:  []string{"alice", "frank"},
		Disabled: []string{"bob"},
		Enabled:  []string{"carol"},
		Changed:  []string{"dave", "grace"},
		Revoked:  []string{"alice", "bob"}, // frank was disabled already
		Rekeyed:  []string{"grace"},        // a password reset
	}
	if got := fmt.Sprintf("%+v", changes[0]); got != fmt.Sprintf("%+v", want) {
		t.Errorf("Change = %s, want %+v", got, want)
	}
	info := ft.lines("INFO")
	if len(info) != 1 || !strings.Contains(info[0], `msg="users file reloaded"`) ||
		!strings.Contains(info[0], "path="+ft.path) ||
		!strings.Contains(info[0], "users=5 added=1 removed=2 disabled=1 enabled=1 changed=2") ||
		!strings.Contains(info[0], "event=users_reloaded outcome=ok") || !strings.Contains(info[0], "revoked=\"[alice bob]\"") {
		t.Errorf("info lines = %q, want one \"users file reloaded\" audit event with the path, the counts and the revoked users", info)
	}
}

func TestFileReloadRefusesBrokenFile(t *testing.T) {
	good := renderUsers(t, fileSpec{name: "alice"}, fileSpec{name: "bob"})
	secretHash := cheapHash(t, "not-logged-pw")
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, path string)
		want  string // in the log line
	}{
		{"broken YAML", func(t *testing.T, path string) {
			writeFile(t, path, []byte("users:\n  alice:\n    password: \""+secretHash+"\n  bob: [\n"))
		}, "yaml"},
		{"invalid hash", func(t *testing.T, path string) {
			writeFile(t, path, []byte("users:\n  alice:\n    password: \""+secretHash+"\"\n  bob:\n    password: \"$2b$04$tooShort"+secretHash[20:40]+"\"\n"))
		}, `user \"bob\": malformed bcrypt hash`},
		{"scheme not supported", func(t *testing.T, path string) {
			writeFile(t, path, []byte("users:\n  alice:\n    password: \"$6$rounds=5000$saltsalt$"+secretHash[30:]+"\"\n"))
		}, "sha512crypt"},
		{"no users", func(t *testing.T, path string) { writeFile(t, path, nil) }, "no users defined"},
		{"duplicate e-mail", func(t *testing.T, path string) {
			writeFile(t, path, []byte("users:\n  alice:\n    email: a@x\n    password: \""+secretHash+"\"\n  bob:\n    email: A@x\n    password: \""+secretHash+"\"\n"))
		}, "share the e-mail address"},
		{"file removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := openTest(t, good)
			before := ft.f.Directory()
			tc.write(t, ft.path)
			err := ft.f.Reload()
			if err == nil {
				t.Fatal("Reload = nil, want an error")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", ft.path)) {
				t.Errorf("Reload = %q, want the error to name the file", err)
			}
			if ft.f.Directory() != before {
				t.Error("a refused file replaced the users in force")
			}
			if u, err := ft.f.Authenticate("alice", "alice-pw"); err != nil || u.Name != "alice" {
				t.Errorf("Authenticate(alice) after a refused reload = %q, %v; want alice", u.Name, err)
			}
			if _, ok := ft.f.Lookup("bob"); !ok {
				t.Error("Lookup(bob) after a refused reload = false")
			}
			if n := len(ft.changeList()); n != 0 {
				t.Errorf("OnChange called %d times for a refused file", n)
			}
			errs := ft.lines("ERROR")
			if len(errs) != 1 {
				t.Fatalf("log has %d error lines, want 1:\n%s", len(errs), ft.log.String())
			}
			line := errs[0]
			if !strings.Contains(line, "path="+ft.path) || !strings.Contains(line, tc.want) || !strings.Contains(line, "event=users_reloaded outcome=refused") {
				t.Errorf("refusal %q does not name the file and %q in a users_reloaded audit event", line, tc.want)
			}
			for _, secret := range []string{secretHash, secretHash[30:], secretHash[20:40], "$argon2id$v=19$m=64"} {
				if strings.Contains(ft.log.String(), secret) {
					t.Errorf("the log shows (part of) a hash %q:\n%s", secret, ft.log.String())
				}
			}
			if info := ft.lines("INFO"); len(info) != 0 {
				t.Errorf("info lines after a refusal: %q", info)
			}

			// Putting the file back as it was says so, and changes nothing.
			renameOver(t, ft.path, good)
			if err := ft.f.Reload(); err != nil {
				t.Fatalf("Reload of the original file: %v", err)
			}
			if ft.f.Directory() != before {
				t.Error("the original content was parsed again")
			}
			if info := ft.lines("INFO"); len(info) != 1 || !strings.Contains(info[0], "valid again") {
				t.Errorf("info lines after the fix = %q, want one saying the file is valid again", info)
			}
		})
	}
}

func TestFileReloadUnchanged(t *testing.T) {
	data := renderUsers(t, fileSpec{name: "alice"})
	ft := openTest(t, data)
	before := ft.f.Directory()
	renameOver(t, ft.path, data) // a new file, the same content
	if err := ft.f.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if ft.f.Directory() != before {
		t.Error("Reload of unchanged content replaced the Directory")
	}
	if n := len(ft.changeList()); n != 0 {
		t.Errorf("OnChange called %d times", n)
	}
	// Someone asked (SIGHUP): the answer is one line.
	if info := ft.lines("INFO"); len(info) != 1 || !strings.Contains(info[0], `msg="users file unchanged"`) {
		t.Errorf("info lines for unchanged content = %q, want one saying so", info)
	}
}

func TestOpenFileRefuses(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yml")
	if _, err := OpenFile(missing, FileOptions{}); !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), fmt.Sprintf("users: load users file %q: ", missing)) {
		t.Errorf("OpenFile(missing) = %v, want wrapped ErrNotExist naming the path", err)
	}
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, bad, []byte("users: {}"))
	if _, err := OpenFile(bad, FileOptions{}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
		t.Errorf("OpenFile(bad) = %v, want an error naming the path", err)
	}
}

// vimSave saves as vim does with backupcopy=no: the old file is renamed to
// a backup, the new one written under the name, the backup removed.
func vimSave(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.Rename(path, path+"~"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, data)
	if err := os.Remove(path + "~"); err != nil {
		t.Fatal(err)
	}
}

// configMapSetup lays out dir as the kubelet mounts a ConfigMap:
// users.yml -> ..data/users.yml, ..data -> ..<timestamp>/.
func configMapSetup(t testing.TB, dir string, data []byte) string {
	t.Helper()
	configMapVersion(t, dir, "..2026_01_01_00_00_00.1", data)
	if err := os.Symlink("..2026_01_01_00_00_00.1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "users.yml")
	if err := os.Symlink(filepath.Join("..data", "users.yml"), path); err != nil {
		t.Fatal(err)
	}
	return path
}

func configMapVersion(t testing.TB, dir, version string, data []byte) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, version), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, version, "users.yml"), data)
}

// configMapSwap updates the ConfigMap as the kubelet's AtomicWriter does:
// a new timestamped directory, a new ..data link renamed over the old one,
// the old directory removed. users.yml itself is never touched.
func configMapSwap(t testing.TB, path string, data []byte) {
	t.Helper()
	dir := filepath.Dir(path)
	old, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	version := "..2026_01_01_00_00_00." + fmt.Sprint(time.Now().UnixNano())
	configMapVersion(t, dir, version, data)
	if err := os.Symlink(version, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
		t.Fatal(err)
	}
}

func plainSetup(t testing.TB, dir string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, "users.yml")
	writeFile(t, path, data)
	return path
}

var saves = []struct {
	name  string
	setup func(t testing.TB, dir string, data []byte) string // returns the path to open
	save  func(t testing.TB, path string, data []byte)
}{
	{"in-place write", plainSetup, writeFile},
	{"rename over", plainSetup, renameOver},
	{"vim backup and write", plainSetup, vimSave},
	{"ConfigMap symlink swap", configMapSetup, configMapSwap},
}

func TestFileWatch(t *testing.T) {
	v1 := renderUsers(t, fileSpec{name: "alice"}, fileSpec{name: "bob"})
	v2 := renderUsers(t, fileSpec{name: "bob"}, fileSpec{name: "carol"})
	for _, tc := range saves {
		t.Run(tc.name, func(t *testing.T) {
			ft := openPath(t, tc.setup(t, t.TempDir(), v1))
			ft.watch(t)
			tc.save(t, ft.path, v2)
			took := waitFor(t, "alice removed", func() bool {
				_, alice := ft.f.Lookup("alice")
				_, carol := ft.f.Lookup("carol")
				return !alice && carol
			})
			t.Logf("%s seen after %v", tc.name, took.Round(time.Millisecond))
			// Let any late event of the same save arrive: still one reload.
			time.Sleep(4 * ft.f.debounce)
			if info := ft.lines("INFO"); len(info) != 2 || !strings.Contains(info[1], "removed=1") {
				t.Errorf("info lines = %q, want the watch line and one reload", info)
			}
			if c := ft.changeList(); len(c) != 1 || !slices.Equal(c[0].Revoked, []string{"alice"}) {
				t.Errorf("changes = %+v, want one revoking alice", c)
			}
			if errs := ft.lines("ERROR"); len(errs) != 0 {
				t.Errorf("a save was read half-way: %q", errs)
			}
		})
	}
}

// TestFileWatchChangeBeforeStart: a save between OpenFile and Watch made
// no event that Watch could see; Watch looks once when it starts.
func TestFileWatchChangeBeforeStart(t *testing.T) {
	ft := openTest(t, renderUsers(t, fileSpec{name: "alice"}, fileSpec{name: "bob"}))
	renameOver(t, ft.path, renderUsers(t, fileSpec{name: "bob"}))
	ft.watch(t)
	took := waitFor(t, "alice removed", func() bool { _, ok := ft.f.Lookup("alice"); return !ok })
	t.Logf("seen %v after Watch started", took.Round(time.Millisecond))
}

func TestFileWatchBrokenSaveLogsOnce(t *testing.T) {
	good := renderUsers(t, fileSpec{name: "alice"}, fileSpec{name: "bob"})
	ft := openTest(t, good)
	before := ft.f.Directory()
	ft.watch(t)
	broken := []byte("users:\n  alice: [\n")
	writeFile(t, ft.path, broken)
	waitFor(t, "refusal logged", func() bool { return len(ft.lines("ERROR")) > 0 })
	// The same broken content saved again, and a chmod: no new line.
	renameOver(t, ft.path, broken)
	if err := os.Chmod(ft.path, 0o640); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * ft.f.debounce)
	if errs := ft.lines("ERROR"); len(errs) != 1 || !strings.Contains(errs[0], "path="+ft.path) {
		t.Errorf("error lines = %q, want one naming the file", errs)
	}
	if ft.f.Directory() != before {
		t.Error("a broken file replaced the users in force")
	}
	if _, ok := ft.f.Lookup("alice"); !ok {
		t.Error("alice is gone after a broken save")
	}
	// SIGHUP (Reload) on the same broken file says it again: someone asked.
	if err := ft.f.Reload(); err == nil {
		t.Error("Reload of the broken file = nil")
	}
	if errs := ft.lines("ERROR"); len(errs) != 2 {
		t.Errorf("error lines after an explicit Reload = %d, want 2", len(errs))
	}
}

func TestFileWatchSkipsUnchangedContent(t *testing.T) {
	data := renderUsers(t, fileSpec{name: "alice"})
	ft := openTest(t, data)
	before := ft.f.Directory()
	ft.watch(t)
	writeFile(t, ft.path, data)
	renameOver(t, ft.path, data)
	// Other files in the directory come and go.
	writeFile(t, filepath.Join(filepath.Dir(ft.path), "other.yml"), []byte("x"))
	waitFor(t, "the unchanged content read", func() bool {
		return len(ft.lines("DEBUG")) > 0
	})
	time.Sleep(4 * ft.f.debounce)
	if ft.f.Directory() != before {
		t.Error("unchanged content replaced the Directory")
	}
	if info := ft.lines("INFO"); len(info) != 1 {
		t.Errorf("info lines = %q, want only the watch line", info)
	}
	if n := len(ft.changeList()); n != 0 {
		t.Errorf("OnChange called %d times", n)
	}
}

func TestFileWatchMissingDirectory(t *testing.T) {
	ft := openTest(t, renderUsers(t, fileSpec{name: "alice"}))
	gone := filepath.Join(t.TempDir(), "gone", "users.yml")
	ft.f.path = gone
	if err := ft.f.Watch(context.Background()); err == nil || !strings.Contains(err.Error(), gone) {
		t.Errorf("Watch with a missing directory = %v, want an error naming the file", err)
	}
}

// TestFileConcurrentLookup reads while reloads swap two versions; under
// -race it shows the swap is safe, and every read sees one version whole.
func TestFileConcurrentLookup(t *testing.T) {
	v1 := renderUsers(t, fileSpec{name: "alice", groups: "[v1]"}, fileSpec{name: "bob", groups: "[v1]"})
	v2 := renderUsers(t, fileSpec{name: "bob", groups: "[v2]"}, fileSpec{name: "carol", groups: "[v2]"})
	ft := openTest(t, v1)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				d := ft.f.Directory()
				bob, ok := d.Lookup("bob")
				if !ok {
					t.Error("bob missing")
					return
				}
				_, alice := d.Lookup("alice")
				_, carol := d.Lookup("carol")
				if v1 := bob.Groups[0] == "v1"; alice != v1 || carol == v1 {
					t.Errorf("a mixed directory: bob %q, alice %v, carol %v", bob.Groups, alice, carol)
					return
				}
				if _, ok := ft.f.Lookup("bob"); !ok {
					t.Error("File.Lookup(bob) = false")
					return
				}
				if _, err := ft.f.Authenticate("bob", "bob-pw"); err != nil {
					t.Errorf("Authenticate(bob) = %v", err)
					return
				}
				reads.Add(1)
			}
		})
	}
	for i := range 40 {
		data := v1
		if i%2 == 0 {
			data = v2
		}
		renameOver(t, ft.path, data)
		if err := ft.f.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := len(ft.changeList()); n != 40 {
		t.Errorf("OnChange called %d times, want 40", n)
	}
	t.Logf("%d reads during 40 reloads", reads.Load())
}

func TestFlatten(t *testing.T) {
	for in, want := range map[string]string{
		"users: parse: yaml: line 3: bad":                                 "users: parse: yaml: line 3: bad",
		"users: parse: yaml: unmarshal errors:\n  line 2: a\n  line 5: b": "users: parse: yaml: unmarshal errors: line 2: a; line 5: b",
		"one\ntwo\n": "one; two",
	} {
		if got := flatten(in); got != want {
			t.Errorf("flatten(%q) = %q, want %q", in, got, want)
		}
	}
}
