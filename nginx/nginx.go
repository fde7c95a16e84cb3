package nginx

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed templates/*.template snippets/*.conf
var files embed.FS

// TemplateSuffix is stripped from a template's name when it is rendered,
// as the nginx image's entrypoint does.
const TemplateSuffix = ".template"

// Vars returns the names of the variables the templates use, sorted. A
// deployment must define each of them (compose: the nginx service's
// environment; tests: the map given to Render).
func Vars() []string {
	return []string{
		"API_UPSTREAM",    // host:port of the protected API (api.<domain>)
		"APP_ROOT",        // directory with the static app page (app.<domain>)
		"HTTPS_PORT",      // TLS port, listened on and used in redirects
		"HTTP_PORT",       // plain http port that redirects to https
		"LISTEN_ADDR",     // listen address: 0.0.0.0 in compose, 127.0.0.1 in tests
		"SSO_COOKIE_NAME", // sso's session cookie (SSO_COOKIE_NAME), never sent upstream
		"SSO_DOMAIN",      // parent domain; vhosts are login., app., api.<domain>
		"SSO_UPSTREAM",    // host:port of sso
		"TLS_CERT",        // PEM certificate chain covering *.<domain>
		"TLS_KEY",         // its PEM private key
	}
}

// Templates returns the template files by name ("sso.conf.template" → text).
func Templates() (map[string]string, error) {
	return readDir("templates")
}

// Snippets returns the include files by name ("sso-protect.conf" → text).
// They have no variables; they belong in <conf prefix>/snippets/, where the
// templates include them from ("include snippets/sso-protect.conf").
func Snippets() (map[string]string, error) {
	return readDir("snippets")
}

// Render renders every template with vars, as envsubst does in the nginx
// image: "${NAME}" and "$NAME" are replaced when NAME is in vars; any other
// "$name" is left alone, so nginx's own variables survive. A "${NAME}" that
// vars lacks is an error, as nginx would fail on it later anyway. The result
// maps the output file name ("sso.conf") to its content.
func Render(vars map[string]string) (map[string]string, error) {
	tmpls, err := Templates()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(tmpls))
	for name, text := range tmpls {
		s, err := Expand(text, vars)
		if err != nil {
			return nil, fmt.Errorf("nginx: render %s: %w", name, err)
		}
		out[strings.TrimSuffix(name, TemplateSuffix)] = s
	}
	return out, nil
}

// Install renders the templates into dir/conf.d and copies the snippets into
// dir/snippets, the layout of /etc/nginx in the official image. An
// nginx.conf in dir with "include conf.d/*.conf;" in http{} then loads them
// (relative includes resolve against the directory of nginx.conf).
func Install(dir string, vars map[string]string) error {
	rendered, err := Render(vars)
	if err != nil {
		return err
	}
	return install(dir, rendered)
}

// install writes rendered into dir/conf.d and the snippets into dir/snippets.
func install(dir string, rendered map[string]string) error {
	snippets, err := Snippets()
	if err != nil {
		return err
	}
	for sub, m := range map[string]map[string]string{"conf.d": rendered, "snippets": snippets} {
		d := filepath.Join(dir, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("nginx: install: %w", err)
		}
		for name, text := range m {
			if err := os.WriteFile(filepath.Join(d, name), []byte(text), 0o644); err != nil {
				return fmt.Errorf("nginx: install: %w", err)
			}
		}
	}
	return nil
}

// Expand substitutes vars in s the way Render does.
func Expand(s string, vars map[string]string) (string, error) {
	var b strings.Builder
	var missing []string
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		if strings.HasPrefix(s, "${") {
			end := strings.IndexByte(s, '}')
			name := ""
			if end > 0 {
				name = s[2:end]
			}
			if isName(name) {
				if v, ok := vars[name]; ok {
					b.WriteString(v)
				} else {
					missing = append(missing, name)
				}
				s = s[end+1:]
				continue
			}
		} else if n := nameLen(s[1:]); n > 0 {
			if v, ok := vars[s[1:1+n]]; ok {
				b.WriteString(v)
				s = s[1+n:]
				continue
			}
		}
		// Not ours: keep the "$" and go on after it.
		b.WriteByte('$')
		s = s[1:]
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return "", fmt.Errorf("nginx: undefined variables %s", strings.Join(slices.Compact(missing), ", "))
	}
	return b.String(), nil
}

// nameLen returns the length of the shell-style name at the start of s.
func nameLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return i
	}
	return len(s)
}

func isName(s string) bool { return s != "" && nameLen(s) == len(s) }

func readDir(dir string) (map[string]string, error) {
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		data, err := fs.ReadFile(files, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("nginx: %w", err)
		}
		out[e.Name()] = string(data)
	}
	return out, nil
}
