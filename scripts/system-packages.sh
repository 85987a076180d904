#!/usr/bin/env bash
# The system packages the test suite needs beyond Python 3.11, in one place for `make test`
# and `.ci/run`: Chromium (the console's browser tests drive /usr/bin/chromium), the
# PostgreSQL server binaries (the tests start a throwaway cluster with initdb and pg_ctl), and
# wrk (`make bench` drives the API with it).
# Installs what is missing with apt-get when it can (as root, or with sudo that needs no
# password); otherwise it stops at once, naming each missing package and the command that
# installs it, so that a missing browser never shows up as dozens of failed tests.
set -euo pipefail

missing() {
  local need=()
  [ -x /usr/bin/chromium ] || need+=(chromium)
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null \
    || need+=(postgresql)
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  echo "${need[@]:-}"
}

need=$(missing)
[ -z "$need" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo)
else
  echo "system-packages: missing: $need" >&2
  echo "system-packages: install them with: sudo apt-get install -y --no-install-recommends $need" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-packages: missing: $need, and there is no apt-get here; install them with your" \
    "system's package manager (Debian packages: $need)" >&2
  exit 1
fi
echo "system-packages: installing $need" >&2
# shellcheck disable=SC2086  # one word per package
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends $need
still=$(missing)
if [ -n "$still" ]; then
  echo "system-packages: still missing after apt-get install: $still" >&2
  exit 1
fi
