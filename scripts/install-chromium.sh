#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's Playwright tests.
# Playwright's own browser download needs hosts this project cannot reach, so the tests launch
# Debian's binary directly (/usr/lib/chromium/chromium; the /usr/bin/chromium wrapper script adds
# flags and environment handling that break headless launches). Idempotent: does nothing when the
# binary is already there.
set -euo pipefail

CHROMIUM_BIN="${OBT_CHROMIUM:-/usr/lib/chromium/chromium}"

if [ -x "$CHROMIUM_BIN" ]; then
  echo "chromium present: $CHROMIUM_BIN"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing at $CHROMIUM_BIN and this script is not running as root." >&2
  echo "Install it with: sudo apt-get update && sudo apt-get install -y chromium" >&2
  echo "(or point OBT_CHROMIUM at another Chromium binary)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium fonts-dejavu-core
if [ ! -x "$CHROMIUM_BIN" ]; then
  echo "apt-get installed chromium but $CHROMIUM_BIN is still missing" >&2
  exit 1
fi
echo "chromium installed: $CHROMIUM_BIN"
