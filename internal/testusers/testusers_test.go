package testusers_test

import (
	"testing"

	"github.com/example/sso/internal/testusers"
)

func TestDirectory(t *testing.T) {
	d := testusers.Directory(t, "pw one")
	if d != testusers.Directory(t, "pw one") {
		t.Error("a second call built the directory again")
	}
	if u, err := d.Authenticate("alice", "pw one"); err != nil || len(u.Groups) != 2 {
		t.Errorf("alice: %+v, %v", u, err)
	}
	if _, err := testusers.Directory(t, "pw two").Authenticate("bob", "pw one"); err == nil {
		t.Error("a directory for another password accepts this one")
	}
}
