package limitfile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	exact := filepath.Join(dir, "exact")
	if err := os.WriteFile(exact, []byte(strings.Repeat("x", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 101)), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(small, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	for _, tc := range []struct {
		name, path string
		want       string // contents, or "" when an error is wanted
		err        error
		msg        string
	}{
		{"small", small, "hello", nil, ""},
		{"at the limit", exact, strings.Repeat("x", 100), nil, ""},
		{"over the limit", big, "", ErrTooLarge, "101 bytes, at most 100 bytes"},
		{"symbolic link to a file", link, "hello", nil, ""},
		{"directory", dir, "", ErrNotRegular, "a directory"},
		{"/dev/zero", "/dev/zero", "", ErrNotRegular, "a device"},
		{"FIFO", fifo, "", ErrNotRegular, "a named pipe"},
		{"socket", sock, "", ErrNotRegular, "a socket"},
		{"missing", filepath.Join(dir, "nope"), "", os.ErrNotExist, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(tc.path, 100)
			if tc.err == nil {
				if err != nil || string(got) != tc.want {
					t.Fatalf("Read = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Read = %q, %v; want an error wrapping %v and saying %q", got, err, tc.err, tc.msg)
			}
		})
	}
}

// A file stat reports as empty but that reads on (as /proc's do) is cut at
// the limit.
func TestReadStatLies(t *testing.T) {
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := Read("/proc/self/maps", 16); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Read(/proc/self/maps, 16) = %v, want ErrTooLarge", err)
	}
	data, err := Read("/proc/self/maps", Small)
	if err != nil || len(data) == 0 {
		t.Errorf("Read(/proc/self/maps) = %d bytes, %v", len(data), err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{Small: "1 MiB", Users: "10 MiB", 512 << 10: "512 KiB", 100: "100 bytes", 1<<20 + 1: "1048577 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
