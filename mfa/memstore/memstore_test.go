package memstore_test

import (
	"testing"

	"github.com/example/sso/mfa"
	"github.com/example/sso/mfa/memstore"
	"github.com/example/sso/mfa/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mfa.Store { return memstore.New(nil) })
}
