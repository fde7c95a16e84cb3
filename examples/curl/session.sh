#!/bin/sh
# The non-browser flow of sso with nothing but curl and sed:
#
#   1. log in with POST /api/session, keeping the cookie in a jar (-c);
#   2. use the jar from another curl process (-b);
#   3. take the cookie value from the JSON answer and send it by hand as a
#      Cookie header from yet another process (what a script that saved it
#      would do later);
#   4. create an API key, use it as a Bearer token and as X-API-Key, trade it
#      for a short-lived JWT and use that; get a JWT with the session too;
#   5. delete the key (it and its JWT are refused at once afterwards) and log
#      out (the saved cookie value and the session's JWT are refused at once
#      afterwards).
#
# Usage:
#   SSO_USER=alice SSO_PASSWORD=... ./session.sh
# Environment:
#   SSO_BASE      login hub URL (default http://login.example.test:8080)
#   SSO_CONNECT   address to connect to instead of resolving SSO_BASE's host,
#                 given to curl as --resolve HOST:PORT:ADDR; default
#                 127.0.0.1 for hosts under .test (which never resolve), none
#                 otherwise
#   SSO_USER, SSO_PASSWORD   the user to log in as (never on a command line)
#
# Prints one line per step; exits non-zero at the first unexpected answer,
# printing sso's JSON error.
set -eu

base=${SSO_BASE:-http://login.example.test:8080}
base=${base%/}
: "${SSO_USER:?set SSO_USER}"
: "${SSO_PASSWORD:?set SSO_PASSWORD}"

# host and port of the base URL, for --resolve.
hostport=$(printf '%s\n' "$base" | sed -n 's|^https\{0,1\}://\([^/]*\).*|\1|p')
host=${hostport%:*}
port=${hostport##*:}
if [ "$port" = "$hostport" ]; then
	case $base in https:*) port=443 ;; *) port=80 ;; esac
fi
case $host in
*.test) connect=${SSO_CONNECT:-127.0.0.1} ;;
*) connect=${SSO_CONNECT:-} ;;
esac
set -- -sS --max-time 10
if [ -n "$connect" ]; then
	set -- "$@" --resolve "$host:$port:$connect"
fi

umask 077 # the jar and the answers hold live credentials
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jar=$tmp/jar

die() {
	printf 'session.sh: %s\n' "$*" >&2
	exit 1
}

# req EXPECTED_STATUS METHOD PATH [curl args...]: the body lands in
# $tmp/body and the headers in $tmp/headers; any other status is fatal.
req() {
	want=$1 method=$2 path=$3
	shift 3
	code=$(curl "$@" -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$method" "$base$path") ||
		die "$method $path: curl failed"
	if [ "$code" != "$want" ]; then
		die "$method $path: HTTP $code, want $want: $(cat "$tmp/body")"
	fi
}

# field NAME: a string field of the JSON in $tmp/body. Enough for the values
# sso puts there (base64url, hex, names); not a general JSON parser.
field() {
	sed -n 's/.*"'"$1"'":"\([^"\\]*\)".*/\1/p' "$tmp/body"
}

# header NAME: a response header from $tmp/headers.
header() {
	tr -d '\r' <"$tmp/headers" | grep -i "^$1:" | sed 's/^[^:]*: *//' | head -n 1
}

# JSON string escaping for the login body: backslash and double quote.
json_escape() {
	printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'
}

# 1. Log in. The body goes through stdin so that the password never shows
# in the process list.
printf '{"username":"%s","password":"%s"}' "$(json_escape "$SSO_USER")" "$(json_escape "$SSO_PASSWORD")" |
	req 201 POST /api/session "$@" -c "$jar" -H 'Content-Type: application/json' --data-binary @-
name=$(sed -n 's/.*"session":{"name":"\([^"\\]*\)".*/\1/p' "$tmp/body")
value=$(field value)
csrf=$(field csrf_token)
[ -n "$name" ] && [ -n "$value" ] && [ -n "$csrf" ] || die "login: no session value or csrf_token in the answer"
echo "login: ok, cookie $name saved in the jar"

# 2. A second curl process reads the jar.
req 200 GET /api/session "$@" -b "$jar"
echo "whoami (jar): $(sed -n 's/.*"user":{"name":"\([^"\\]*\)".*/\1/p' "$tmp/body")"

# 3. Only the value, as a Cookie header, from another process: what /auth
# sees when nginx forwards a request.
req 200 GET /auth "$@" -H "Cookie: $name=$value"
echo "whoami (cookie header): $(header X-Auth-User)"

# 4. An API key. Creating one changes state with the cookie: it needs the
# CSRF token.
req 201 POST /api/keys "$@" -b "$jar" -H "X-CSRF-Token: $csrf" \
	-H 'Content-Type: application/json' --data '{"name":"curl example"}'
key=$(field key)
key_id=$(field id)
case $key in sso_*) ;; *) die "create key: no key in the answer" ;; esac
echo "create key: $key_id (the key is shown only once)"

req 200 GET /auth "$@" -H "Authorization: Bearer $key"
echo "use key (bearer): $(header X-Auth-User)"
req 200 GET /auth "$@" -H "X-API-Key: $key"
echo "use key (x-api-key): $(header X-Auth-User)"

req 200 POST /api/token "$@" -H "Authorization: Bearer $key"
jwt=$(field access_token)
[ -n "$jwt" ] || die "token: no access_token in the answer"
req 200 GET /auth "$@" -H "Authorization: Bearer $jwt"
echo "use token: $(header X-Auth-User)"
# A JWT of the session: POST with the cookie, so with the CSRF token.
req 200 POST /api/token "$@" -b "$jar" -H "X-CSRF-Token: $csrf"
session_jwt=$(field access_token)
[ -n "$session_jwt" ] || die "token: no access_token in the answer"

# 5. Revocation: a deleted key and a logged-out session are refused at
# once, and so are the JWTs minted from them, before their exp.
req 204 DELETE "/api/keys/$key_id" "$@" -b "$jar" -H "X-CSRF-Token: $csrf"
req 401 GET /auth "$@" -H "Authorization: Bearer $key"
req 401 GET /auth "$@" -H "Authorization: Bearer $jwt"
echo "delete key: ok, the key and its JWT are refused now"

req 200 GET /auth "$@" -H "Authorization: Bearer $session_jwt"
req 204 DELETE /api/session "$@" -b "$jar" -c "$jar" -H "X-CSRF-Token: $csrf"
req 401 GET /api/session "$@" -H "Cookie: $name=$value"
req 401 GET /auth "$@" -H "Authorization: Bearer $session_jwt"
echo "logout: ok, the old cookie value and its JWT are refused now"
