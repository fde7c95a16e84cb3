package authz

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/example/sso/session"
)

// secondFactorAMR are the amr values of second factors: mfa.AMROTP,
// mfa.AMRHardwareKey, mfa.AMRSoftwareKey and login.AMRFederatedMFA (an
// upstream's proved MFA) (authz does not import mfa and its WebAuthn
// library for four strings; a test keeps them equal to login.IsSecond).
var secondFactorAMR = map[string]bool{"otp": true, "hwk": true, "swk": true, "mfa": true}

// FactorPolicy is what an upstream asks of a session with /auth's query:
// factor=2 for a second factor, max_age for one at most that old.
type FactorPolicy struct {
	Second bool
	MaxAge time.Duration // 0: any age
}

// MaxFactorAge bounds max_age: a day; longer is a configuration mistake.
const MaxFactorAge = 24 * time.Hour

// authQueryKeys are the parameters /auth's query may hold (nginx's
// $sso_auth_query).
var authQueryKeys = map[string]bool{"group": true, "factor": true, "max_age": true}

// ParseAuthQuery parses /auth's raw query strictly. url.Values drops a
// pair it cannot parse (one with a semicolon, a bad escape) and nothing
// reads an unknown key, so "?group=a;group=b", "?factor=2;max_age=1m" or
// "?max-age=1m" would check less than nginx's configuration says: such a
// query is an error instead.
func ParseAuthQuery(raw string) (url.Values, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("cannot be parsed (parameters are separated by &): %w", err)
	}
	for k := range q {
		if !authQueryKeys[k] {
			return nil, fmt.Errorf("unknown parameter %q: only group, factor and max_age", k)
		}
	}
	return q, nil
}

// ParseFactorPolicy reads factor (1 or 2) and max_age (a Go duration such
// as 10m, or whole seconds) from /auth's query, as nginx passes them per
// location. max_age without factor=2 is refused: it would mean nothing.
func ParseFactorPolicy(q url.Values) (FactorPolicy, error) {
	var p FactorPolicy
	switch f := q["factor"]; {
	case len(f) == 0:
	case len(f) > 1:
		return p, errors.New("factor given more than once")
	case f[0] == "1":
	case f[0] == "2":
		p.Second = true
	default:
		return p, errors.New("factor must be 1 or 2")
	}
	ma := q["max_age"]
	if len(ma) == 0 {
		return p, nil
	}
	if len(ma) > 1 {
		return p, errors.New("max_age given more than once")
	}
	if !p.Second {
		return p, errors.New("max_age needs factor=2")
	}
	d, err := time.ParseDuration(ma[0])
	if err != nil {
		secs, serr := strconv.ParseUint(ma[0], 10, 32)
		if serr != nil {
			return p, errors.New("max_age must be a duration such as 10m, or seconds")
		}
		d = time.Duration(secs) * time.Second
	}
	if d < time.Second || d > MaxFactorAge {
		return p, errors.New("max_age must be from 1s to 24h")
	}
	p.MaxAge = d
	return p, nil
}

// Satisfied reports whether a session with factors meets p at now.
func (p FactorPolicy) Satisfied(factors []session.Factor, now time.Time) bool {
	if !p.Second {
		return true
	}
	for _, f := range factors {
		if !secondFactorAMR[f.Method] {
			continue
		}
		if p.MaxAge == 0 || !f.At.Before(now.Add(-p.MaxAge)) {
			return true
		}
	}
	return false
}

// amrHeader is X-Auth-AMR: the session's amr values, comma-separated.
func amrHeader(id Identity) value {
	if id.Session == nil || len(id.Session.Factors) == 0 {
		return nil
	}
	// The value is built in a stack buffer and looked up in a table of
	// the few combinations sessions have ("pwd", "pwd,otp", "user,hwk"…):
	// /auth writes it on every 200, and a join would allocate each time.
	var buf [64]byte
	b := buf[:0]
	for i, f := range id.Session.Factors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.Method...)
	}
	amrValues.mu.RLock()
	v, ok := amrValues.m[string(b)]
	amrValues.mu.RUnlock()
	if ok {
		return v
	}
	v = newValue(string(b))
	amrValues.mu.Lock()
	if amrValues.m == nil || len(amrValues.m) >= maxAMRValues {
		amrValues.m = make(map[string]value)
	}
	amrValues.m[string(b)] = v
	amrValues.mu.Unlock()
	return v
}

// amrValues holds the rendered X-Auth-AMR values; bounded, as the factor
// methods come from our own code and combine in a handful of ways.
var amrValues struct {
	mu sync.RWMutex
	m  map[string]value
}

const maxAMRValues = 64

func sessionFactors(id Identity) []session.Factor {
	if id.Session == nil {
		return nil
	}
	return id.Session.Factors
}
