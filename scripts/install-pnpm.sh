#!/usr/bin/env bash
# Install pnpm, the dashboard's package manager, into .tools/bin/pnpm from the npm registry, at the
# version frontend/package.json pins in its "packageManager" field (pnpm@X.Y.Z).
#
# `npm install --global --prefix .tools`: a project-local global install, so neither root nor a
# writable system prefix is needed. Not corepack: it cannot fetch pnpm on machines whose npm
# registry is a mirror (it downloads from its own URL and checks signatures against it).
# Idempotent: does nothing when .tools/bin/pnpm already reports the pinned version.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
PNPM="$TOOLS/bin/pnpm"
WANT="$(sed -n 's/.*"packageManager": *"pnpm@\([0-9][0-9.]*\)".*/\1/p' "$ROOT/frontend/package.json")"
[[ -n "$WANT" ]] || { echo "install-pnpm.sh: no \"packageManager\": \"pnpm@X.Y.Z\" in frontend/package.json" >&2; exit 1; }

if [[ -x "$PNPM" ]] && [[ "$("$PNPM" --version 2>/dev/null)" == "$WANT" ]]; then
  echo "pnpm already installed: $PNPM ($WANT)"
  exit 0
fi
command -v npm >/dev/null || { echo "install-pnpm.sh: npm (Node >= 20.19) is needed to install pnpm" >&2; exit 1; }
echo "installing pnpm@$WANT into $TOOLS from the npm registry"
npm install --global --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "pnpm@$WANT" >/dev/null
"$PNPM" --version >/dev/null
echo "installed $PNPM ($("$PNPM" --version))"
