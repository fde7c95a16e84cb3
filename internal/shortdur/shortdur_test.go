package shortdur

import (
	"testing"
	"time"
)

func TestString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		8 * time.Hour:              "8h",
		2 * time.Minute:            "2m",
		90 * time.Second:           "1m30s",
		time.Hour + 30*time.Minute: "1h30m",
		500 * time.Millisecond:     "500ms",
		time.Hour + time.Second:    "1h0m1s",
		0:                          "0s",
	} {
		if got := String(d); got != want {
			t.Errorf("String(%v) = %q, want %q", d, got, want)
		}
	}
}
