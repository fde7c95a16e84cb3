#!/usr/bin/env bash
# Installs the Debian packages the tests use, when they are missing:
# redis-server and nginx (integration tests), chromium (browser tests),
# python3-requests and curl (example scripts), wrk (make bench and its
# reduced run in make test), slapd and ldap-utils (LDAP backend tests). As root it runs apt-get;
# otherwise it names what to install and fails.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$2" ]; }
have redis-server /usr/bin/redis-server || need+=(redis-server)
have nginx /usr/sbin/nginx || need+=(nginx)
have chromium /usr/bin/chromium || need+=(chromium)
have curl /usr/bin/curl || need+=(curl)
have wrk /usr/bin/wrk || need+=(wrk)
have slapd /usr/sbin/slapd || need+=(slapd)
have ldapsearch /usr/bin/ldapsearch || need+=(ldap-utils)
/usr/bin/python3 -c 'import requests' >/dev/null 2>&1 || need+=(python3-requests)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]}" >&2
  echo "install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
