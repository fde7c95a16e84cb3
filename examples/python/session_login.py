#!/usr/bin/python3
"""A non-browser client of sso, built on requests.Session.

Log in once as a user (the way scripts log in to Jira), keep the session
cookie in a private state file, and use it from later processes; or make an
API key for long-lived automation and trade it for short-lived JWTs.

    export SSO_USER=alice SSO_PASSWORD=...          # never on the command line
    ./session_login.py --state st.json login         # writes st.json (mode 0600)
    ./session_login.py --state st.json whoami        # a new process, cookie from st.json
    ./session_login.py --state st.json create-key --key-file k.txt   # key shown once
    ./session_login.py --key-file k.txt use-key      # GET /auth with the key
    ./session_login.py --key-file k.txt token        # prints a JWT
    ./session_login.py --state st.json delete-key KEY_ID
    ./session_login.py --state st.json logout

--base is the login hub's URL (default http://login.example.test:8080).
Where its host does not resolve (dev mode, tests), --connect 127.0.0.1:PORT
sends every request there while keeping the URL, and so the Host header and
the cookie domain, of --base: like curl --resolve.

Exit status: 0 on success, 1 when sso refuses (any non-2xx answer; its JSON
error is printed on stderr) or cannot be reached, 2 on a usage error.
"""

import argparse
import json
import os
import sys
import tempfile
import urllib.parse

import requests
from requests.adapters import HTTPAdapter

PROG = "session_login.py"
TIMEOUT = 10  # seconds, for every request


class Failure(Exception):
    """A failure to report on stderr, and exit 1."""


class ConnectAdapter(HTTPAdapter):
    """Connects to a fixed host:port whatever the URL names.

    The request keeps its URL for everything else: the cookie jar matches
    cookies against it, and the Host header names it, so sso picks the cookie
    domain from it. Plain http only: with https the certificate check would
    be against the wrong name.
    """

    def __init__(self, connect):
        super().__init__()
        self.connect = connect

    def send(self, request, **kwargs):
        u = urllib.parse.urlsplit(request.url)
        r = request.copy()
        r.headers["Host"] = u.netloc
        r.url = urllib.parse.urlunsplit((u.scheme, self.connect, u.path, u.query, u.fragment))
        resp = super().send(r, **kwargs)
        resp.url = request.url
        return resp


def new_session(args):
    """A requests.Session with no cookies and, with --connect, the adapter."""
    s = requests.Session()
    s.headers["User-Agent"] = PROG
    s.headers["Accept"] = "application/json"
    if args.connect:
        s.mount("http://", ConnectAdapter(args.connect))
    return s


def call(s, args, method, path, expect, **kwargs):
    """Sends one request and returns the response, or raises Failure when the
    status is not one of expect (by default any 2xx)."""
    url = args.base.rstrip("/") + path
    try:
        resp = s.request(method, url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
    except requests.RequestException as e:
        where = " (connecting to %s)" % args.connect if args.connect else ""
        raise Failure("%s %s%s: %s" % (method, url, where, e)) from None
    ok = resp.status_code in expect if expect else 200 <= resp.status_code < 300
    if not ok:
        raise Failure("%s %s: HTTP %d: %s" % (method, path, resp.status_code, describe_error(resp)))
    return resp


def describe_error(resp):
    """The JSON error {"error","message"} as sso sent it, or the raw body."""
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or resp.reason or "").strip()[:500]
    if isinstance(body, dict) and "error" in body:
        return json.dumps(body, sort_keys=True)
    return resp.text.strip()[:500]


def write_private(path, text):
    """Writes text to path with mode 0600: never readable by others, not even
    for a moment (the temporary file is created 0600 and renamed)."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-sso-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_state(args):
    try:
        with open(args.state) as f:
            st = json.load(f)
    except FileNotFoundError:
        raise Failure("no session state in %s: run `%s --state %s login` first" % (args.state, PROG, args.state)) from None
    except (OSError, ValueError) as e:
        raise Failure("read session state %s: %s" % (args.state, e)) from None
    for k in ("name", "value", "csrf_token"):
        if not isinstance(st.get(k), str) or not st[k]:
            raise Failure("session state %s: field %r is missing" % (args.state, k))
    return st


def cookie_header(st):
    # Sent by hand, not through a jar: the point is that the bare value works
    # from any process and connection.
    return {"Cookie": "%s=%s" % (st["name"], st["value"])}


def read_key(args):
    key = os.environ.get("SSO_API_KEY", "").strip()
    if key:
        return key
    try:
        with open(args.key_file) as f:
            key = f.read().strip()
    except OSError as e:
        raise Failure("no API key: set SSO_API_KEY or run create-key first (%s)" % e) from None
    if not key:
        raise Failure("no API key in %s" % args.key_file)
    return key


def cmd_login(args):
    user = os.environ.get("SSO_USER", "")
    password = os.environ.get("SSO_PASSWORD", "")
    if not user or not password:
        raise Failure("set SSO_USER and SSO_PASSWORD (the password is never taken from the command line)")
    s = new_session(args)
    resp = call(s, args, "POST", "/api/session", (201,), json={"username": user, "password": password})
    body = resp.json()
    sess = body["session"]
    st = {"name": sess["name"], "value": sess["value"], "csrf_token": body["csrf_token"]}
    write_private(args.state, json.dumps(st) + "\n")
    # The same requests.Session kept the Set-Cookie in its jar: prove it by
    # asking who we are with the jar alone.
    if not s.cookies.get(sess["name"]):
        raise Failure("login: sso answered 201 but set no %s cookie for %s" % (sess["name"], args.base))
    who = call(s, args, "GET", "/api/session", (200,)).json()
    print("logged in as %s (session expires %s); state in %s" % (who["user"]["name"], sess["expires_at"], args.state))


def cmd_whoami(args):
    st = read_state(args)
    s = new_session(args)
    resp = call(s, args, "GET", "/auth", (200,), headers=cookie_header(st))
    user = resp.headers.get("X-Auth-User", "")
    body = call(s, args, "GET", "/api/session", (200,), headers=cookie_header(st)).json()
    if body["user"]["name"] != user:
        raise Failure("whoami: /auth says %r but /api/session says %r" % (user, body["user"]["name"]))
    print("user: %s" % user)
    print("email: %s" % body["user"]["email"])
    print("groups: %s" % ",".join(body["user"]["groups"]))
    print("expires: %s" % body["session"]["expires_at"])


def cmd_create_key(args):
    st = read_state(args)
    s = new_session(args)
    payload = {"name": args.name}
    if args.expires_in:
        payload["expires_in"] = args.expires_in
    headers = dict(cookie_header(st), **{"X-CSRF-Token": st["csrf_token"]})
    body = call(s, args, "POST", "/api/keys", (201,), json=payload, headers=headers).json()
    write_private(args.key_file, body["key"] + "\n")
    # sso keeps only a hash: this is the one time the key is shown.
    print("key_id: %s" % body["id"])
    print("key: %s" % body["key"])
    print("saved to %s (mode 0600); sso shows a key only once" % args.key_file)


def cmd_delete_key(args):
    st = read_state(args)
    s = new_session(args)
    headers = dict(cookie_header(st), **{"X-CSRF-Token": st["csrf_token"]})
    call(s, args, "DELETE", "/api/keys/" + urllib.parse.quote(args.key_id, safe=""), (204,), headers=headers)
    print("deleted key %s" % args.key_id)


def cmd_list_keys(args):
    st = read_state(args)
    s = new_session(args)
    body = call(s, args, "GET", "/api/keys", (200,), headers=cookie_header(st)).json()
    for k in body["keys"]:
        print("%s\t%s\tcreated %s\tlast used %s" % (k["id"], k["name"], k["created_at"], k["last_used"] or "never"))


def cmd_use_key(args):
    key = read_key(args)
    s = new_session(args)
    for label, headers in (("bearer", {"Authorization": "Bearer " + key}), ("x-api-key", {"X-API-Key": key})):
        resp = call(s, args, "GET", "/auth", (200,), headers=headers)
        print("%s: %d user=%s groups=%s" % (label, resp.status_code, resp.headers.get("X-Auth-User", ""), resp.headers.get("X-Auth-Groups", "")))


def cmd_token(args):
    key = read_key(args)
    s = new_session(args)
    body = call(s, args, "POST", "/api/token", (200,), headers={"Authorization": "Bearer " + key}).json()
    if body.get("token_type") != "Bearer" or not body.get("access_token"):
        raise Failure("token: unexpected answer %s" % json.dumps(body))
    print(body["access_token"])
    print("expires in %ss" % body.get("expires_in"), file=sys.stderr)


def cmd_logout(args):
    st = read_state(args)
    s = new_session(args)
    headers = dict(cookie_header(st), **{"X-CSRF-Token": st["csrf_token"]})
    call(s, args, "DELETE", "/api/session", (204,), headers=headers)
    if args.keep_state:
        print("logged out; the session in %s is revoked" % args.state)
        return
    try:
        os.unlink(args.state)
    except FileNotFoundError:
        pass
    print("logged out; removed %s" % args.state)


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description="Log in to sso and use sessions, API keys and JWTs from scripts.")
    p.add_argument("--base", default=os.environ.get("SSO_BASE", "http://login.example.test:8080"),
                   help="login hub URL (env SSO_BASE; default %(default)s)")
    p.add_argument("--connect", metavar="HOST:PORT", default=os.environ.get("SSO_CONNECT", ""),
                   help="connect here instead of resolving the --base host, like curl --resolve (http only; env SSO_CONNECT)")
    p.add_argument("--state", default=os.path.expanduser("~/.sso-session.json"),
                   help="session state file, written 0600 (default %(default)s)")
    p.add_argument("--key-file", default=os.path.expanduser("~/.sso-api-key"),
                   help="API key file, written 0600 (default %(default)s); env SSO_API_KEY wins when set")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    sub.add_parser("login", help="POST /api/session with SSO_USER/SSO_PASSWORD; save the cookie")
    sub.add_parser("whoami", help="GET /auth and /api/session with the saved cookie")
    ck = sub.add_parser("create-key", help="POST /api/keys; print the key once and save it")
    ck.add_argument("--name", default="session_login.py", help="a label for the key")
    ck.add_argument("--expires-in", default="", help="e.g. 720h; default: never")
    dk = sub.add_parser("delete-key", help="DELETE /api/keys/ID")
    dk.add_argument("key_id")
    sub.add_parser("list-keys", help="GET /api/keys")
    sub.add_parser("use-key", help="GET /auth with the key, as Bearer and as X-API-Key")
    sub.add_parser("token", help="POST /api/token with the key; print the JWT")
    lo = sub.add_parser("logout", help="DELETE /api/session")
    lo.add_argument("--keep-state", action="store_true", help="keep the (now revoked) state file")
    args = p.parse_args(argv)
    u = urllib.parse.urlsplit(args.base)
    if u.scheme not in ("http", "https") or not u.hostname:
        p.error("--base %r: want an http:// or https:// URL" % args.base)
    if args.connect and u.scheme != "http":
        p.error("--connect works with http:// only; for https map the name in /etc/hosts instead")
    return args


COMMANDS = {
    "login": cmd_login,
    "whoami": cmd_whoami,
    "create-key": cmd_create_key,
    "delete-key": cmd_delete_key,
    "list-keys": cmd_list_keys,
    "use-key": cmd_use_key,
    "token": cmd_token,
    "logout": cmd_logout,
}


def main(argv):
    args = parse_args(argv)
    try:
        COMMANDS[args.cmd](args)
    except Failure as e:
        print("%s %s: %s" % (PROG, args.cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
