package doctor

import "strings"

// remedies are the verbs a Detail's remedy starts with ("...; add X to
// SSO_CORS_ORIGINS").
var remedies = []string{"add ", "allow ", "drop ", "have ", "list ", "put ", "remove ", "send ", "serve ", "set ", "use "}

// Fix splits a check's Detail into what happens and the remedy, for
// output that shows them apart (sso doctor --json). Every Detail states
// its remedy last, after "; " or ": "; fix is "" when there is none (a
// passing check, or a failure whose Detail names no change to make).
func (c Check) Fix() (why, fix string) {
	d := c.Detail
	if c.OK {
		return d, ""
	}
	for i := len(d) - 2; i > 0; i-- {
		if (d[i] != ';' && d[i] != ':') || d[i+1] != ' ' {
			continue
		}
		tail := d[i+2:]
		for _, v := range remedies {
			if strings.HasPrefix(tail, v) {
				return d[:i], tail
			}
		}
	}
	return d, ""
}
