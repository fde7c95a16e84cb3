package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/example/sso/internal/limitfile"
)

// SettingError reports one bad setting. Its message is one line that names
// the setting, the bad value (secrets redacted) and what would be valid:
//
//	SSO_COOKIE_SAMESITE="sideways": must be one of lax, strict, none
type SettingError struct {
	Setting string // environment variable name, e.g. "SSO_COOKIE_SAMESITE"
	Value   string // the offending value, already redacted for secrets
	Source  string // where the value came from when that is not the environment, e.g. "from flag --cookie-samesite"
	Msg     string // what is wrong and what would be valid
}

func (e *SettingError) Error() string {
	src := ""
	if e.Source != "" {
		src = " (" + e.Source + ")"
	}
	return fmt.Sprintf("%s=%q%s: %s", e.Setting, e.Value, src, e.Msg)
}

// UsageError reports a command line Load cannot parse (an unknown flag, a
// flag without its value, a stray argument), as opposed to a bad setting:
// the caller prints its usage and exits 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return "config: " + e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// newError builds a SettingError, redacting value when the setting is secret.
func newError(env, value, msg string) *SettingError {
	return &SettingError{Setting: env, Value: display(env, value), Msg: msg}
}

// Where a value came from; Config.Source reports these.
const (
	fromDefault = "default"
	fromFile    = "file"
	fromEnv     = "env"
	fromFlag    = "flag"
	fromDerived = "derived"
)

type rawValue struct {
	value  string
	origin string // one of the from* constants
	note   string // SettingError.Source for this value
}

// flagValue records a flag's raw text; parsing happens later, together with
// the other sources, so that all sources produce the same error messages.
type flagValue struct {
	isBool bool
	set    func(string)
}

func (f *flagValue) String() string { return "" } // never print a (possibly secret) value

func (f *flagValue) Set(s string) error {
	f.set(s)
	return nil
}

func (f *flagValue) IsBoolFlag() bool { return f.isBool }

// Load reads the configuration from args (command-line flags, without the
// program name or subcommand), getenv (normally os.Getenv) and the YAML file
// named by --config or SSO_CONFIG, in that order of precedence, then applies
// defaults, derives the dev-mode values and validates the result.
//
// On -h or --help the error wraps flag.ErrHelp; the caller prints Usage.
// A validation error joins one *SettingError per problem (errors.Join); the
// returned Config then holds what could be parsed and must not be used to
// serve.
func Load(args []string, getenv func(string) string) (Config, error) {
	table := settings()

	fset := flag.NewFlagSet("sso", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	fset.Usage = func() {}
	flags := make(map[string]string)
	for _, s := range table {
		env := s.env
		fset.Var(&flagValue{
			isBool: s.kind == kindBool,
			set:    func(v string) { flags[env] = v },
		}, flagName(env), s.help)
	}
	configFlag := fset.String("config", "", "YAML configuration file")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		return Config{}, &UsageError{err}
	}
	if fset.NArg() > 0 {
		return Config{}, &UsageError{fmt.Errorf("unexpected argument %q (settings are flags such as --listen=:8080)", fset.Arg(0))}
	}

	path, pathNote := getenv("SSO_CONFIG"), ""
	fset.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			path, pathNote = *configFlag, "from flag --config"
		}
	})
	var errs []error
	fileVals := map[string]fileValue{}
	var fileOIDC []fileProvider
	if path != "" {
		data, err := limitfile.Read(path, limitfile.Small)
		if err != nil {
			return Config{}, &SettingError{Setting: "SSO_CONFIG", Value: path, Source: pathNote, Msg: "cannot read: " + pathErrMsg(err)}
		}
		var ferrs []error
		fileVals, fileOIDC, ferrs = parseFile(path, data)
		if fileVals == nil {
			// The file is not YAML at all: every other message would mislead.
			return Config{}, errors.Join(ferrs...)
		}
		errs = append(errs, ferrs...)
	}

	raw := make(map[string]rawValue, len(table))
	for _, s := range table {
		if v, ok := flags[s.env]; ok {
			raw[s.env] = rawValue{v, fromFlag, "from flag --" + flagName(s.env)}
		} else if v := getenv(s.env); v != "" {
			raw[s.env] = rawValue{v, fromEnv, ""}
		} else if fv, ok := fileVals[s.env]; ok {
			raw[s.env] = rawValue{fv.value, fromFile, fmt.Sprintf("from %s line %d", path, fv.line)}
		} else {
			raw[s.env] = rawValue{s.def, fromDefault, ""}
		}
	}

	cfg := Config{sources: make(map[string]string, len(table))}
	failed := make(map[string]bool) // settings whose own value is already reported
	for _, s := range table {
		r := raw[s.env]
		cfg.sources[s.env] = r.origin
		if msg := parseInto(s, r.value, s.field(&cfg)); msg != "" {
			e := newError(s.env, r.value, msg)
			e.Source = r.note
			errs = append(errs, e)
			failed[s.env] = true
		}
	}

	cfg.derive(raw, failed)
	cfg.mergeLDAPURL()
	errs = append(errs, cfg.buildOIDC(raw, fileOIDC, path)...)

	// Validate again reports settings that failed to parse, against their
	// defaults; drop those lines, and tell where each value came from.
	for _, e := range cfg.problems() {
		var se *SettingError
		if errors.As(e, &se) {
			if failed[se.Setting] {
				continue
			}
			if se.Source == "" {
				se.Source = raw[se.Setting].note
			}
		}
		errs = append(errs, e)
	}
	return cfg, errors.Join(errs...)
}

// derive fills the values whose defaults depend on others and normalises
// case. It runs after parsing and before Validate.
func (c *Config) derive(raw map[string]rawValue, failed map[string]bool) {
	derived := func(env, value, from string) {
		c.sources[env] = fromDerived
		r := raw[env]
		r.value, r.origin, r.note = value, fromDerived, "derived from "+from
		raw[env] = r
		if failed[from] {
			failed[env] = true // its source is wrong already; one message is enough
		}
	}

	c.DevMode = strings.TrimSpace(raw["SSO_COOKIE_DOMAINS"].value) == ""
	if c.DevMode {
		c.CookieDomains = []string{DevDomain}
		derived("SSO_COOKIE_DOMAINS", DevDomain, "SSO_COOKIE_DOMAINS")
		c.Notes = append(c.Notes, "SSO_COOKIE_DOMAINS not set: dev mode on cookie domain "+DevDomain+
			", demo user and generated keys unless set; do not use in production")
	}
	if strings.TrimSpace(raw["SSO_COOKIE_SECURE"].value) == "" {
		c.CookieSecure = !c.DevMode
	}
	c.CookieSameSite = strings.ToLower(c.CookieSameSite)
	c.LogLevel = strings.ToLower(c.LogLevel)
	c.LogFormat = strings.ToLower(c.LogFormat)

	if c.LoginURL == "" {
		if c.DevMode {
			port := "8080"
			if _, p, err := splitHostPort(c.Listen); err == nil {
				port = p
			}
			c.LoginURL = "http://login." + DevDomain + ":" + port
			derived("SSO_LOGIN_URL", c.LoginURL, "SSO_LISTEN")
		} else if len(c.CookieDomains) > 0 {
			c.LoginURL = "https://login." + strings.TrimSuffix(strings.ToLower(c.CookieDomains[0]), ".")
			derived("SSO_LOGIN_URL", c.LoginURL, "SSO_COOKIE_DOMAINS")
		}
		if c.LoginURL != "" {
			c.Notes = append(c.Notes, "SSO_LOGIN_URL not set: using "+c.LoginURL)
		}
	} else if strings.HasSuffix(c.LoginURL, "/") && strings.Count(c.LoginURL, "/") == 3 {
		c.LoginURL = strings.TrimSuffix(c.LoginURL, "/") // "https://login.example.com/" is the hub itself
	}
	if c.JWTIssuer == "" {
		c.JWTIssuer = c.LoginURL
		derived("SSO_JWT_ISSUER", c.JWTIssuer, "SSO_LOGIN_URL")
	}
	if c.JWTAudience == "" && len(c.CookieDomains) > 0 {
		c.JWTAudience = c.CookieDomains[0]
		derived("SSO_JWT_AUDIENCE", c.JWTAudience, "SSO_COOKIE_DOMAINS")
	}
	for i, p := range c.TrustedProxies {
		if pfx, err := parseProxy(p); err == nil {
			c.TrustedProxies[i] = pfx.String()
		}
	}
}

// parseInto parses raw into the field ptr points to and returns a message
// saying what would be valid, or "".
func parseInto(s setting, raw string, ptr any) string {
	raw = strings.TrimSpace(raw)
	switch p := ptr.(type) {
	case *string:
		*p = raw
	case *[]string:
		list, msg := splitList(raw)
		*p = list
		return msg
	case *bool:
		if raw == "" {
			return "" // unset: derive decides
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return "must be true or false"
		}
		*p = b
	case *time.Duration:
		if raw == "" {
			return "must be a Go duration such as 90s, 15m or 8h"
		}
		d, err := time.ParseDuration(raw)
		if err != nil {
			return "must be a Go duration such as 90s, 15m or 8h"
		}
		*p = d
	case *int:
		n, err := strconv.Atoi(raw)
		if errors.Is(err, strconv.ErrRange) {
			return "is out of range"
		}
		if err != nil {
			return "must be a whole number"
		}
		*p = n
	default:
		return fmt.Sprintf("internal error: unsupported field type %T", ptr)
	}
	return ""
}

// splitList splits a comma-separated list, trimming blanks around entries.
// An empty entry is an error ("a,,b" is more likely a typo than intent);
// the empty string is the empty list.
func splitList(raw string) ([]string, string) {
	if strings.TrimSpace(raw) == "" {
		return nil, ""
	}
	parts := strings.Split(raw, ",")
	list := make([]string, 0, len(parts))
	var empty []string
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			empty = append(empty, strconv.Itoa(i+1))
			continue
		}
		list = append(list, p)
	}
	if len(empty) > 0 {
		return list, "entry " + strings.Join(empty, ", ") + " is empty; want comma-separated values without empty entries"
	}
	return list, ""
}

type fileValue struct {
	value string
	line  int
}

// keyLike reports whether k could be a setting's name: what a
// configuration file holds. Anything else (a line of /etc/shadow, a
// secret pasted in the wrong place) is not echoed into the logs.
func keyLike(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// shownKey is how an unknown key is named in an error: quoted when it
// looks like a setting's name, else by its length only.
func shownKey(k string) string {
	if keyLike(k) {
		return fmt.Sprintf("%q", k)
	}
	return fmt.Sprintf("(%d characters, not shown: not a setting name; is SSO_CONFIG the right file?)", len(k))
}

// parseFile reads the YAML configuration file, and its oidc_providers
// list apart. It returns a nil map when data is not a YAML mapping at all.
func parseFile(path string, data []byte) (map[string]fileValue, []fileProvider, []error) {
	fileErr := func(msg string) *SettingError {
		return &SettingError{Setting: "SSO_CONFIG", Value: path, Msg: msg}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3 syntax errors name a line and a token kind, never a value.
		return nil, nil, []error{fileErr("not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	vals := map[string]fileValue{}
	if len(doc.Content) == 0 {
		return vals, nil, nil // empty file: no settings
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, []error{fileErr(fmt.Sprintf("line %d: want a mapping of setting: value, such as listen: 127.0.0.1:8080", root.Line))}
	}
	byKey := make(map[string]setting)
	var keys []string
	for _, s := range settings() {
		byKey[fileKey(s.env)] = s
		keys = append(keys, fileKey(s.env))
	}
	var errs []error
	var oidc []fileProvider
	oidcLine := 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value == "oidc_providers" {
			if oidcLine != 0 {
				errs = append(errs, fileErr(fmt.Sprintf("line %d: key %q already set at line %d", k.Line, k.Value, oidcLine)))
				continue
			}
			oidcLine = k.Line
			list, lerrs := parseOIDCProviders(v, fileErr)
			oidc, errs = list, append(errs, lerrs...)
			continue
		}
		s, ok := byKey[k.Value]
		if !ok || k.Kind != yaml.ScalarNode {
			msg := fmt.Sprintf("line %d: unknown key %s", k.Line, shownKey(k.Value))
			if sug := suggest(k.Value, keys); sug != "" && keyLike(k.Value) {
				msg += fmt.Sprintf(" (did you mean %q?)", sug)
			}
			errs = append(errs, fileErr(msg))
			continue
		}
		if prev, dup := vals[s.env]; dup {
			errs = append(errs, fileErr(fmt.Sprintf("line %d: key %q already set at line %d", k.Line, k.Value, prev.line)))
			continue
		}
		val, set, msg := nodeValue(v, s.kind)
		if msg != "" {
			errs = append(errs, fileErr(fmt.Sprintf("line %d: %s %s", v.Line, k.Value, msg)))
			continue
		}
		if set {
			vals[s.env] = fileValue{val, k.Line}
		}
	}
	return vals, oidc, errs
}

// nodeValue turns a YAML value into the same raw text an environment
// variable would carry. A null value counts as unset.
func nodeValue(n *yaml.Node, k kind) (value string, set bool, msg string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "", false, ""
		}
		return n.Value, true, ""
	case yaml.SequenceNode:
		if k != kindList {
			return "", false, "must be a single value, not a list"
		}
		items := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind == yaml.AliasNode && item.Alias != nil {
				item = item.Alias
			}
			if item.Kind != yaml.ScalarNode {
				return "", false, fmt.Sprintf("must be a list of plain values (line %d is not)", item.Line)
			}
			items = append(items, item.Value)
		}
		return strings.Join(items, ","), true, ""
	default:
		if k == kindList {
			return "", false, "must be a list or a comma-separated string, not a mapping"
		}
		return "", false, "must be a single value, not a mapping"
	}
}

// suggest returns the key closest to typo, if it is close enough to be
// what was meant.
func suggest(typo string, keys []string) string {
	best, bestDist := "", 3
	for _, k := range keys {
		if d := editDistance(strings.ToLower(typo), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// pathErrMsg drops the path from an *fs.PathError, which the message
// already names.
func pathErrMsg(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
