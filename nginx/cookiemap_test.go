package nginx_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/example/sso/nginx"
)

// The session-cookie maps of sso-maps.conf, run in Go: RE2 and PCRE agree on
// these patterns (no backreferences or lookaround; leftmost-first matching,
// lazy .*?), so the table and the fuzz target below check the very regexes
// nginx gets. nginx_integration_test.go checks the same cases through nginx.

// nginxMap is one "map $src $dst { ... }" block.
type nginxMap struct {
	src     string // variable name without "$"
	def     string // default value
	entries []mapEntry
}

type mapEntry struct {
	re    *regexp.Regexp
	value string
}

var (
	mapBlock = regexp.MustCompile(`(?ms)^map \$(\S+) \$(\S+) \{\n(.*?)\n\}`)
	mapLine  = regexp.MustCompile(`^\s*("(?:[^"\\]|\\.)*"|default)\s+(\S+);$`)
	varRef   = regexp.MustCompile(`\$([a-z0-9_]+)`)
)

// unquote undoes nginx's quoting of a configuration string
// (ngx_conf_read_token): \" \' \\ lose the backslash, \t \r \n become the
// control character, any other backslash stays.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch c := s[i+1]; c {
			case '"', '\'', '\\':
				b.WriteByte(c)
				i++
				continue
			case 't', 'r', 'n':
				b.WriteByte(map[byte]byte{'t': '\t', 'r': '\r', 'n': '\n'}[c])
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseMaps returns the maps of a rendered sso-maps.conf by output variable.
func parseMaps(t testing.TB, conf string) map[string]nginxMap {
	t.Helper()
	maps := map[string]nginxMap{}
	for _, m := range mapBlock.FindAllStringSubmatch(conf, -1) {
		nm := nginxMap{src: m[1]}
		for _, line := range strings.Split(m[3], "\n") {
			lm := mapLine.FindStringSubmatch(line)
			if lm == nil {
				continue // comments, and maps this test does not run
			}
			key, value := lm[1], unquote(lm[2])
			if key == "default" {
				nm.def = value
				continue
			}
			pattern, ok := strings.CutPrefix(unquote(key), "~")
			if !ok || strings.HasPrefix(pattern, "*") {
				continue // exact or case-insensitive keys: none in the cookie maps
			}
			re, err := regexp.Compile(pattern)
			if err != nil {
				t.Fatalf("map $%s: key %s: %v", m[2], key, err)
			}
			nm.entries = append(nm.entries, mapEntry{re, value})
		}
		maps[m[2]] = nm
	}
	return maps
}

// eval computes variable name for a request whose Cookie header is cookie,
// as nginx does: the first matching regex in file order wins, its named
// captures become variables for the value.
func eval(t testing.TB, maps map[string]nginxMap, name, cookie string) string {
	if name == "http_cookie" {
		return cookie
	}
	m, ok := maps[name]
	if !ok {
		t.Fatalf("no map sets $%s", name)
	}
	src := eval(t, maps, m.src, cookie)
	vars := map[string]string{m.src: src}
	value := m.def
	for _, e := range m.entries {
		sub := e.re.FindStringSubmatch(src)
		if sub == nil {
			continue
		}
		for i, n := range e.re.SubexpNames() {
			if n != "" {
				vars[n] = sub[i]
			}
		}
		value = e.value
		break
	}
	return varRef.ReplaceAllStringFunc(value, func(ref string) string {
		v, ok := vars[ref[1:]]
		if !ok {
			t.Fatalf("map $%s: value %q uses %s, which this test does not know", name, value, ref)
		}
		return v
	})
}

func cookieMaps(t testing.TB, cookieName string) map[string]nginxMap {
	t.Helper()
	vars := testVars()
	vars["SSO_COOKIE_NAME"] = cookieName
	out, err := nginx.Render(vars)
	if err != nil {
		t.Fatal(err)
	}
	return parseMaps(t, out["sso-maps.conf"])
}

// upstreamCookieCases: the client's Cookie header and what the upstream
// must get ("" = no Cookie header). Shared with the integration test, where
// every session copy is "good" so that the fake sso lets the request in.
var upstreamCookieCases = []struct {
	name, in, want string
}{
	{"only the session", "sso_session=good", ""},
	{"session first", "sso_session=good; a=1; b=2", "a=1; b=2"},
	{"session in the middle", "a=1; sso_session=good; b=2", "a=1; b=2"},
	{"session last", "a=1; b=2; sso_session=good", "a=1; b=2"},
	{"two copies", "sso_session=good; a=1; sso_session=good", "a=1"},
	{"two copies only", "sso_session=good; sso_session=good", ""},
	{"two copies adjacent", "a=1; sso_session=good; sso_session=good; b=2", "a=1; b=2"},
	{"three copies: no cookies at all", "sso_session=good; a=1; sso_session=good; b=2; sso_session=good", ""},
	{"similar names kept", "xsso_session=1; sso_session_other=1; sso_session=good; sso_sessio=1", "xsso_session=1; sso_session_other=1; sso_sessio=1"},
	{"name inside another value kept", "a=sso_session=x; sso_session=good", "a=sso_session=x"},
	// No ";" before it: "b sso_session=c" is a's value (browsers send spaces
	// in values; Go's net/http reads it so too), not a session cookie.
	{"name after a space inside a value kept", "a=b sso_session=c; sso_session=good", "a=b sso_session=c"},
	{"no spaces", "a=1;sso_session=good;b=2", "a=1;b=2"},
	{"many spaces and a tab", "a=1 ;  sso_session=good  ;\tb=2", "a=1;\tb=2"},
	{"tab after the separator", "a=1;\tsso_session=good", "a=1"},
	{"trailing separator", "sso_session=good;", ""},
	{"empty value", "sso_session=good; a=1; sso_session=", "a=1"},
	{"no session", "a=1; b=2", "a=1; b=2"},
	{"name without =", "sso_session=good; sso_session", "sso_session"},
	{"empty pairs kept", "a=1;; sso_session=good", "a=1;"},
}

func TestUpstreamCookieMap(t *testing.T) {
	maps := cookieMaps(t, "sso_session")
	for _, tc := range upstreamCookieCases {
		if got := eval(t, maps, "sso_upstream_cookie", tc.in); got != tc.want {
			t.Errorf("%s: $sso_upstream_cookie(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
	if got := eval(t, maps, "sso_upstream_cookie", ""); got != "" {
		t.Errorf("$sso_upstream_cookie(%q) = %q, want empty", "", got)
	}
}

// The name is a literal inside \Q...\E: every character a cookie name may
// have (RFC 9110 tchar; config rejects others) matches only itself.
func TestUpstreamCookieMapOddName(t *testing.T) {
	name := "__Secure-s.$|^*+!#%&'`~x"
	maps := cookieMaps(t, name)
	for in, want := range map[string]string{
		name + "=v; a=1":               "a=1",
		"a=1; " + name + "=v":          "a=1",
		"__Secure-sX$|^*+!#%&'`~x=v":   "__Secure-sX$|^*+!#%&'`~x=v", // "." is not any character
		"__Secure-s.$|^*+!#%&'`~xx=v":  "__Secure-s.$|^*+!#%&'`~xx=v",
		"a=1; __Secure-s.=v; |^*+!=v2": "a=1; __Secure-s.=v; |^*+!=v2",
	} {
		if got := eval(t, maps, "sso_upstream_cookie", in); got != want {
			t.Errorf("name %q: $sso_upstream_cookie(%q) = %q, want %q", name, in, got, want)
		}
	}
}

// pairs splits a Cookie header the way parsers do (net/http among them): on
// ";", each part trimmed of blanks; empty parts carry no cookie.
func pairs(h string) []string {
	var out []string
	for _, p := range strings.Split(h, ";") {
		if p = strings.Trim(p, " \t"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// For any header: the upstream gets every other pair in order and no
// session pair; with three or more session pairs, nothing.
func FuzzUpstreamCookieMap(f *testing.F) {
	for _, tc := range upstreamCookieCases {
		f.Add(tc.in)
	}
	maps := cookieMaps(f, "sso_session")
	f.Fuzz(func(t *testing.T, in string) {
		if strings.ContainsAny(in, "\r\n\x00") {
			return // nginx refuses such header values
		}
		in = strings.TrimLeft(in, " \t") // nginx strips them from header values
		var kept []string
		sessions := 0
		for _, p := range pairs(in) {
			if strings.HasPrefix(p, "sso_session=") {
				sessions++
			} else {
				kept = append(kept, p)
			}
		}
		if sessions >= 3 {
			kept = nil
		}
		got := eval(t, maps, "sso_upstream_cookie", in)
		if !slices.Equal(pairs(got), kept) {
			t.Errorf("$sso_upstream_cookie(%q) = %q: pairs %q, want %q", in, got, pairs(got), kept)
		}
	})
}
