package session

import (
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    Session
		want time.Time
	}{
		{"idle first", Session{LastSeen: t0, Idle: time.Hour, ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(time.Hour)},
		{"absolute caps idle", Session{LastSeen: t0, Idle: 3 * time.Hour, ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(2 * time.Hour)},
		{"equal", Session{LastSeen: t0, Idle: time.Hour, ExpiresAt: t0.Add(time.Hour)}, t0.Add(time.Hour)},
		{"no idle", Session{LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}, t0.Add(time.Hour)},
		{"negative idle", Session{LastSeen: t0, Idle: -time.Second, ExpiresAt: t0.Add(time.Hour)}, t0.Add(time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Deadline(); !got.Equal(tc.want) {
				t.Errorf("Deadline() = %v, want %v", got, tc.want)
			}
			if !tc.s.Expired(tc.want) || tc.s.Expired(tc.want.Add(-time.Nanosecond)) {
				t.Errorf("Expired around the deadline %v is wrong", tc.want)
			}
		})
	}
}

func TestClone(t *testing.T) {
	s := &Session{ID: "x", Groups: []string{"a", "b"}}
	c := s.Clone()
	c.Groups[0] = "z"
	c.ID = "y"
	if s.Groups[0] != "a" || s.ID != "x" {
		t.Errorf("Clone shares state: original now %+v", s)
	}
}

func TestKeyExpired(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if (&APIKey{}).Expired(t0) {
		t.Error("key without ExpiresAt is expired, want never")
	}
	k := &APIKey{ExpiresAt: t0}
	if !k.Expired(t0) || k.Expired(t0.Add(-time.Nanosecond)) {
		t.Errorf("Expired around %v is wrong", t0)
	}
}

func TestValidate(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	good := Session{ID: "i", User: "u", ExpiresAt: t0}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v, want nil", good, err)
	}
	for _, s := range []Session{{User: "u", ExpiresAt: t0}, {ID: "i", ExpiresAt: t0}, {ID: "i", User: "u"}} {
		if err := s.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want error", s)
		}
	}
	for _, k := range []APIKey{{Hash: "h", User: "u"}, {ID: "i", User: "u"}, {ID: "i", Hash: "h"}} {
		if err := k.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want error", k)
		}
	}
}

func TestAMRAndClone(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		factors []Factor
		want    []string
	}{
		{"none", nil, nil},
		{"password", []Factor{{"pwd", t0}}, []string{"pwd"}},
		{"password then otp", []Factor{{"pwd", t0}, {"otp", t0.Add(time.Second)}}, []string{"pwd", "otp"}},
	}
	for _, tc := range tests {
		s := &Session{Factors: tc.factors, Groups: []string{"a"}}
		got := s.AMR()
		if len(got) != len(tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: AMR() = %q, want %q", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: AMR() = %q, want %q", tc.name, got, tc.want)
			}
		}
		c := s.Clone()
		if len(c.Factors) > 0 {
			c.Factors[0].Method = "changed"
			if s.Factors[0].Method == "changed" {
				t.Errorf("%s: Clone shares Factors with the original", tc.name)
			}
		}
	}
	k := &APIKey{Groups: []string{"a"}}
	k.Clone().Groups[0] = "changed"
	if k.Groups[0] != "a" {
		t.Error("APIKey.Clone shares Groups with the original")
	}
}
