package redisstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/example/sso/session"
)

// The stored form of a session (issue 10, "a lean Redis record").
//
// Version 1 is a version byte followed by a compact binary body built with
// encoding/binary: strings are uvarint-length-prefixed bytes, times are
// milliseconds (CreatedAt as Unix milliseconds, LastSeen and ExpiresAt as
// signed varints relative to CreatedAt), Idle is milliseconds rounded up,
// so a positive idle timeout never reads back as "none". Binary rather than
// a one-letter-key JSON: a typical session's timestamps, idle timeout and
// IP address take about 25 bytes instead of about 110, there is no quoting
// or escaping to get wrong, and the version byte leaves room to change
// the body later. Like the JSON before it, the format names no Go field,
// so renaming one cannot silently change stored data.
//
// The session ID is not in the record: it is the last part of the key the
// record is stored under, and the store fills it in from there.
//
//	0x01
//	user, email, domain                  string
//	groups                               uvarint count, then count strings
//	created                              varint  Unix milliseconds
//	last seen, expires                   varint  milliseconds after created
//	idle                                 varint  milliseconds
//	ip                                   byte 4 + 4 bytes, 16 + 16 bytes,
//	                                     or 0 + string (not canonical)
//	user agent, csrf token               string
//
// Version 2 (the one written now) is version 1's body followed by where
// the identity comes from and how the session was established:
//
//	0x02
//	… as version 1 …
//	source                               string
//	factors                              uvarint count, then per factor:
//	                                     method string, at varint
//	                                     milliseconds after created
//
// A typical password session pays 7 bytes for it (an empty source, one
// factor "pwd" given when the session was created). Version 1 records are
// still read, with no source (the users file) and no factors.
//
// Records written before version 1 are JSON objects (legacyRecord); their
// first byte is '{', which no version byte takes, so they are still read,
// and the next Touch rewrites them in the current format. Nobody is logged
// out by an upgrade.
const (
	recordV1 = 0x01
	recordV2 = 0x02
	// recordVersion is the version encodeSession writes.
	recordVersion = recordV2
)

// Bounds the decoder applies to counts read from a record, so that a
// corrupt one fails rather than allocating without limit.
const (
	maxGroups = 1 << 16
	// maxFactors bounds the factors of one session: a login takes two or
	// three.
	maxFactors = 64
	// maxMillis bounds times and offsets: about 35000 years either side of
	// 1970, beyond any time.Time a session holds and far from overflow.
	maxMillis = 1 << 50
	// maxIdle is the longest time.Duration, in milliseconds.
	maxIdle = math.MaxInt64 / int64(time.Millisecond)
)

// legacyRecord is the JSON form written by versions before recordV1.
type legacyRecord struct {
	ID        string        `json:"id"`
	User      string        `json:"user"`
	Email     string        `json:"email,omitempty"`
	Groups    []string      `json:"groups,omitempty"`
	Domain    string        `json:"domain,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	LastSeen  time.Time     `json:"last_seen"`
	ExpiresAt time.Time     `json:"expires_at"`
	Idle      time.Duration `json:"idle_ns,omitempty"`
	IP        string        `json:"ip,omitempty"`
	UserAgent string        `json:"user_agent,omitempty"`
	CSRFToken string        `json:"csrf_token,omitempty"`
}

// session converts a legacy record; the fields it lacks stay zero.
func (r *legacyRecord) session() *session.Session {
	return &session.Session{
		ID: r.ID, User: r.User, Email: r.Email, Groups: r.Groups, Domain: r.Domain,
		CreatedAt: r.CreatedAt, LastSeen: r.LastSeen, ExpiresAt: r.ExpiresAt, Idle: r.Idle,
		IP: r.IP, UserAgent: r.UserAgent, CSRFToken: r.CSRFToken,
	}
}

// encodeSession returns s in the current record format.
func encodeSession(s *session.Session) []byte {
	n := 1 + 42 + len(s.User) + len(s.Email) + len(s.Domain) + len(s.IP) + len(s.UserAgent) + len(s.CSRFToken) + len(s.Source)
	for _, g := range s.Groups {
		n += 2 + len(g)
	}
	for _, f := range s.Factors {
		n += 6 + len(f.Method)
	}
	b := make([]byte, 0, n)
	b = append(b, recordVersion)
	b = appendString(b, s.User)
	b = appendString(b, s.Email)
	b = appendString(b, s.Domain)
	b = binary.AppendUvarint(b, uint64(len(s.Groups)))
	for _, g := range s.Groups {
		b = appendString(b, g)
	}
	created := s.CreatedAt.UnixMilli()
	b = binary.AppendVarint(b, created)
	b = binary.AppendVarint(b, s.LastSeen.UnixMilli()-created)
	b = binary.AppendVarint(b, s.ExpiresAt.UnixMilli()-created)
	idle := s.Idle / time.Millisecond
	if s.Idle%time.Millisecond > 0 && int64(idle) < maxIdle {
		idle++
	}
	b = binary.AppendVarint(b, int64(idle))
	b = appendIP(b, s.IP)
	b = appendString(b, s.UserAgent)
	b = appendString(b, s.CSRFToken)
	b = appendString(b, s.Source)
	b = binary.AppendUvarint(b, uint64(len(s.Factors)))
	for _, f := range s.Factors {
		b = appendString(b, f.Method)
		b = binary.AppendVarint(b, f.At.UnixMilli()-created)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendIP stores a canonical IPv4 or IPv6 address in 4 or 16 bytes
// ("2001:db8::1" is 11 bytes as text, a full IPv6 address up to 39) and
// anything else (empty, a zone, a non-canonical spelling) as text, so the
// address reads back exactly as it was given.
func appendIP(b []byte, ip string) []byte {
	if a, err := netip.ParseAddr(ip); err == nil && a.Zone() == "" && a.String() == ip {
		if a.Is4() {
			v := a.As4()
			return append(append(b, 4), v[:]...)
		}
		v := a.As16()
		return append(append(b, 16), v[:]...)
	}
	return appendString(append(b, 0), ip)
}

// decodeSession reads a record of any version stored under session id.
func decodeSession(id string, b []byte) (*session.Session, error) {
	if len(b) == 0 {
		return nil, errors.New("empty record")
	}
	switch b[0] {
	case '{':
		var r legacyRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		s := r.session()
		s.ID = id
		return s, nil
	case recordV1, recordV2:
		s, err := decodeBinary(b[0], b[1:])
		if err != nil {
			return nil, err
		}
		s.ID = id
		return s, nil
	}
	return nil, fmt.Errorf("unknown record version %#x", b[0])
}

var errCorrupt = errors.New("corrupt record")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string { return string(r.bytes(r.uvarint())) }

func (r *reader) byte() byte {
	if v := r.bytes(1); len(v) == 1 {
		return v[0]
	}
	return 0
}

func decodeBinary(version byte, b []byte) (*session.Session, error) {
	r := &reader{b: b}
	s := &session.Session{User: r.string(), Email: r.string(), Domain: r.string()}
	n := r.uvarint()
	if n > maxGroups || n > uint64(len(r.b)) { // each group takes at least one byte
		return nil, errCorrupt
	}
	if n > 0 {
		s.Groups = make([]string, n)
		for i := range s.Groups {
			s.Groups[i] = r.string()
		}
	}
	created := r.varint()
	lastSeen, expires := r.varint(), r.varint()
	idle := r.varint()
	switch r.byte() {
	case 0:
		s.IP = r.string()
	case 4:
		if v := r.bytes(4); v != nil {
			s.IP = netip.AddrFrom4([4]byte(v)).String()
		}
	case 16:
		if v := r.bytes(16); v != nil {
			s.IP = netip.AddrFrom16([16]byte(v)).String()
		}
	default:
		r.err = errCorrupt
	}
	s.UserAgent = r.string()
	s.CSRFToken = r.string()
	var factorsAt []int64
	if version >= recordV2 {
		s.Source = r.string()
		n := r.uvarint()
		if n > maxFactors || n > uint64(len(r.b)) { // each factor takes at least two bytes
			return nil, errCorrupt
		}
		if n > 0 {
			s.Factors = make([]session.Factor, n)
			factorsAt = make([]int64, n)
			for i := range s.Factors {
				s.Factors[i].Method = r.string()
				factorsAt[i] = r.varint()
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 || !within(created, maxMillis) || !within(lastSeen, maxMillis) ||
		!within(expires, maxMillis) || !within(idle, maxIdle) {
		return nil, errCorrupt
	}
	for i, at := range factorsAt {
		if !within(at, maxMillis) {
			return nil, errCorrupt
		}
		s.Factors[i].At = time.UnixMilli(created + at)
	}
	s.CreatedAt = time.UnixMilli(created)
	s.LastSeen = time.UnixMilli(created + lastSeen)
	s.ExpiresAt = time.UnixMilli(created + expires)
	s.Idle = time.Duration(idle) * time.Millisecond
	return s, nil
}

// within reports whether -m <= v <= m.
func within(v, m int64) bool { return -m <= v && v <= m }
