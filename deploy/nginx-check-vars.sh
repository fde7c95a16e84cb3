#!/bin/sh
# Runs in the nginx container before the image renders the templates with
# envsubst (/docker-entrypoint.d/ runs in name order; 20-envsubst-on-
# templates.sh comes after this one). envsubst pastes values in as they
# are: API_UPSTREAM='x:1; } server { listen 443 ...' would add a vhost that
# passes `nginx -t`. So every variable must have its plain shape, or nginx
# does not start. The docker entrypoint stops at the first script that fails.
set -eu

nl='
'
bad=0
check() { # name, extended regex, what it should be
	eval "v=\${$1-}"
	case "$v" in
	*"$nl"*) ok=no ;;
	*) if printf '%s' "$v" | grep -Eq "^($2)\$"; then ok=yes; else ok=no; fi ;;
	esac
	if [ "$ok" = no ]; then
		echo "$0: $1 must be $3; refusing to render the nginx configuration" >&2
		bad=1
	fi
}

label='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
hostport="$label(\\.$label)*:[0-9]{1,5}|\\[[0-9A-Fa-f:.]+\\]:[0-9]{1,5}"
check API_UPSTREAM "$hostport" "host:port (letters, digits, dots, hyphens; or [IPv6]:port)"
check SSO_UPSTREAM "$hostport" "host:port (letters, digits, dots, hyphens; or [IPv6]:port)"
check HTTPS_PORT '[0-9]{1,5}' "a port number"
check HTTP_PORT '[0-9]{1,5}' "a port number"
check LISTEN_ADDR '[0-9.]{7,15}|\[[0-9A-Fa-f:.]+\]' "an IPv4 address or [IPv6]"
check SSO_DOMAIN "$label(\\.$label)+" "a domain name such as example.com"
check SSO_COOKIE_NAME '[A-Za-z0-9_.-]{1,64}' "a cookie name (letters, digits, _ . -)"
check APP_ROOT '/[A-Za-z0-9._/-]*' "an absolute path (letters, digits, . _ / -)"
check TLS_CERT '/[A-Za-z0-9._/-]*' "an absolute path (letters, digits, . _ / -)"
check TLS_KEY '/[A-Za-z0-9._/-]*' "an absolute path (letters, digits, . _ / -)"
exit "$bad"
