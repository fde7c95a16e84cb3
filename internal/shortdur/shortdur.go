// Package shortdur writes durations the way people write them in settings
// and log lines: 8h and 2m rather than 8h0m0s and 2m0s.
package shortdur

import (
	"strings"
	"time"
)

// String is d.String() without trailing zero units.
func String(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
