// Package limitfile reads the files that settings name (the configuration
// file, the users file, key and secret files, CA bundles) with a bound: a
// setting pointed at /dev/zero, a FIFO or a huge file by mistake must get
// a clear start-up error, not fill the memory. It imports only the
// standard library (internal/deptest).
package limitfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Limits for the files settings name: a configuration, key or secret file
// is a few KiB; a users file of 10 000 users with bcrypt hashes is about
// 1.5 MiB.
const (
	Small = 1 << 20  // SSO_CONFIG, key, secret and CA files
	Users = 10 << 20 // SSO_USERS_FILE
)

// ErrNotRegular is wrapped by Read's error for a directory, device, FIFO
// or socket.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by Read's error for a file over its limit.
var ErrTooLarge = errors.New("too large")

// Read returns the contents of the regular file at path (symbolic links
// followed), refusing anything else, and any file over max bytes. The
// size is checked twice: from stat, before reading, and while reading (a
// file that grows, or that stat reports as empty, as /proc does).
func Read(path string, max int64) ([]byte, error) {
	// Stat first, for the message (a socket cannot even be opened); then
	// again on what was opened. O_NONBLOCK: opening a FIFO put there in
	// between would otherwise wait for a writer; it changes nothing for a
	// regular file.
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().IsRegular() {
		var f *os.File
		if f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err != nil {
			return nil, err
		}
		defer f.Close()
		fi, err = f.Stat()
		if err == nil && fi.Mode().IsRegular() {
			return readAll(f, path, fi.Size(), max)
		}
	}
	if err != nil {
		return nil, err
	}
	return nil, notRegular(path, fi)
}

// notRegular says what fi is instead of a regular file.
func notRegular(path string, fi os.FileInfo) error {
	what := "a special file"
	switch {
	case fi.IsDir():
		what = "a directory"
	case fi.Mode()&os.ModeNamedPipe != 0:
		what = "a named pipe"
	case fi.Mode()&os.ModeDevice != 0:
		what = "a device"
	case fi.Mode()&os.ModeSocket != 0:
		what = "a socket"
	}
	return &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %s", ErrNotRegular, what)}
}

// readAll reads f, of the size stat gave, up to max bytes.
func readAll(f *os.File, path string, size, max int64) ([]byte, error) {
	if size > max {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, at most %s", ErrTooLarge, size, Size(max))}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: over %s", ErrTooLarge, Size(max))}
	}
	return data, nil
}

// Size formats a limit: "1 MiB", "10 MiB", "512 KiB", "100 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
