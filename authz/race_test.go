//go:build race

package authz_test

// raceEnabled: the race detector allocates on its own account, so the
// allocation counts are checked only without it.
const raceEnabled = true
