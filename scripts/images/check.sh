#!/usr/bin/env bash
# TEST TOOLING: build images/server.Dockerfile and images/agent.Dockerfile for real and run them,
# on a Debian machine that can reach Debian's apt mirror, PyPI and the npm registry but NO
# container registry. Not part of `make test` or CI (they must not need a Docker daemon); run it
# by hand (`make images`, as root) after changing images/, compose.yaml or the packaging.
#
# What it does (idempotent: every step is cached or skipped when already done):
#   1. starts dockerd (vfs storage, no iptables/bridge, unix socket only) if none answers, and
#      stops it again at the end;
#   2. makes local stand-ins for the base images: a debootstrap'ed Debian bookworm imported as
#      obt-local/debian:bookworm, then obt-local/python (Debian's python3) and obt-local/node
#      (this machine's Node >= 20.19 copied in), see the *-base.Dockerfile files next to this one;
#   3. builds obt-server:local and obt-agent:local with PYTHON_IMAGE/NODE_IMAGE pointing at them
#      (the classic builder: BuildKit needs the buildx plugin, absent from Debian bookworm);
#   4. runs them read-only as uid 10001: `agent detect --json`, `api --help`, `operator --help`,
#      `serve` on 127.0.0.1:<free port> with a tmpfs data dir, probed with curl on /healthz,
#      /readyz, /api/v1/nodes and / (the dashboard), with an agent enrolling and reporting once;
#      then the default `api` command and a long-running agent in a network namespace of their
#      own (--network none), until both HEALTHCHECKs report healthy;
#   5. brings compose.yaml's stack up for real (`docker compose up -d`, or Debian's docker-compose
#      1.29 where the compose plugin is absent): a local PostgreSQL image built like the bases
#      (Debian's postgresql-15, scripts/images/postgres-base.Dockerfile) instead of the registry's,
#      the images of 3. (tagged as compose.yaml names them, so nothing is built twice), the API
#      published on 127.0.0.1:<free port>; checks that the API is healthy on PostgreSQL (its
#      HEALTHCHECK, /readyz, its tables in the database), that the dashboard is served, that the
#      Compose agent enrolls with a token from `obt enroll-token create` under its fixed host id and is
#      listed; then `down -v` removes containers, network and volumes;
#   6. prints the image sizes.
# Exits non-zero on the first failure. Needs root (dockerd, debootstrap), docker, debootstrap,
# curl, python3 and node/npm on the host (apt-get install docker.io debootstrap curl
# docker-compose; the last only where `docker compose` is not there).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/scripts/images
MIRROR=${OBT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOTFS=${OBT_ROOTFS:-/tmp/obt-rootfs}
WORK=${OBT_IMAGES_WORK:-/tmp/obt-images}
DEBIAN_IMAGE=obt-local/debian:bookworm
PYTHON_IMAGE=obt-local/python:bookworm
NODE_IMAGE=obt-local/node:bookworm
SERVER_IMAGE=${OBT_SERVER_IMAGE:-obt-server:local}
AGENT_IMAGE=${OBT_AGENT_IMAGE:-obt-agent:local}
POSTGRES_IMAGE=obt-local/postgres:15-bookworm
COMPOSE_PROJECT=obt-images-check
COMPOSE_VERSION=images-check  # the tag compose.yaml's images get here (OBT_VERSION)
CONTAINER=obt-images-check-serve
API_CONTAINER=obt-images-check-api
AGENT_CONTAINER=obt-images-check-agent
# The classic builder; see 3. above.
export DOCKER_BUILDKIT=0

say() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

mkdir -p "$WORK"
STARTED_DOCKERD=
COMPOSE=()
COMPOSE_UP=
cleanup() {
  local rc=$?
  if [[ -n $COMPOSE_UP ]]; then
    echo "removing the Compose stack"
    compose --profile agent down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  docker rm -f -v "$CONTAINER" "$AGENT_CONTAINER" "$API_CONTAINER" >/dev/null 2>&1 || true
  if [[ -n $STARTED_DOCKERD ]]; then
    echo "stopping the dockerd this script started (pid $STARTED_DOCKERD)"
    kill "$STARTED_DOCKERD" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$STARTED_DOCKERD" 2>/dev/null || break; sleep 1; done
  fi
  exit "$rc"
}
trap cleanup EXIT

# --- 1. the daemon ---------------------------------------------------------------------------
command -v docker >/dev/null || fail "no docker client on PATH"
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || fail "no Docker daemon answers and no dockerd (apt-get install docker.io)"
  [[ $(id -u) == 0 ]] || fail "starting dockerd needs root"
  say "starting dockerd (log: $WORK/dockerd.log)"
  dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
    --host unix:///var/run/docker.sock --pidfile "$WORK/dockerd.pid" >"$WORK/dockerd.log" 2>&1 &
  STARTED_DOCKERD=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log" >&2; fail "dockerd did not come up"; }
fi

# --- 2. local base images --------------------------------------------------------------------
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if ! have_image "$DEBIAN_IMAGE"; then
  if [[ ! -x $ROOTFS/bin/sh ]]; then
    command -v debootstrap >/dev/null || fail "no debootstrap (apt-get install debootstrap)"
    say "debootstrap bookworm into $ROOTFS"
    rm -rf "$ROOTFS"
    debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR"
  fi
  say "importing $ROOTFS as $DEBIAN_IMAGE"
  # The .deb cache and package lists are left out: every image runs apt-get update itself.
  tar -C "$ROOTFS" --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' \
    -c . | docker import - "$DEBIAN_IMAGE"
fi

# The host's locally added CAs (an HTTPS-intercepting egress proxy's, say) go into both bases,
# so that pip and npm inside the builds trust what the host trusts; usually there are none.
EXTRA_CA_DIR=${OBT_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
extra_cas() { { find "$EXTRA_CA_DIR" -maxdepth 2 -name '*.crt' -type f 2>/dev/null || true; } | sort; }

say "building $PYTHON_IMAGE"
PY_CTX=$WORK/python-context
rm -rf "$PY_CTX" && mkdir -p "$PY_CTX/extra-ca"
extra_cas | while read -r crt; do cp "$crt" "$PY_CTX/extra-ca/"; done
cp "$HERE/python-base.Dockerfile" "$PY_CTX/Dockerfile"
docker build --network host -q --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" -t "$PYTHON_IMAGE" "$PY_CTX"
docker run --rm "$PYTHON_IMAGE" python --version

say "building $NODE_IMAGE from this machine's Node"
NODE_BIN=$(readlink -f "$(command -v node)") || fail "no node on PATH"
NPM_DIR=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/..") || fail "no npm on PATH"
[[ -f $NPM_DIR/bin/npm-cli.js ]] || fail "npm's package directory not found (got $NPM_DIR)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number);
  process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || fail "node $(node --version) on the host: vite 7 needs >= 20.19"
NODE_CTX=$WORK/node-context
rm -rf "$NODE_CTX" && mkdir -p "$NODE_CTX"
cp "$NODE_BIN" "$NODE_CTX/node"
cp -a "$NPM_DIR" "$NODE_CTX/npm"
cp "$HERE/node-base.Dockerfile" "$NODE_CTX/Dockerfile"
extra_cas | while read -r crt; do cat "$crt"; echo; done >"$NODE_CTX/extra-ca.pem"
docker build --network host -q --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" -t "$NODE_IMAGE" "$NODE_CTX"
docker run --rm "$NODE_IMAGE" node --version

# --- 3. the OBT images -----------------------------------------------------------------------
cd "$REPO"
say "building $AGENT_IMAGE"
docker build --network host -f images/agent.Dockerfile \
  --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" -t "$AGENT_IMAGE" .
say "building $SERVER_IMAGE"
docker build --network host -f images/server.Dockerfile \
  --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" --build-arg NODE_IMAGE="$NODE_IMAGE" \
  -t "$SERVER_IMAGE" .

# --- 4. run them -----------------------------------------------------------------------------
# As the chart and compose.yaml run them: read-only root, no capabilities, only /tmp writable.
LOCKED=(--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges)
# The host's facts, mounted read-only under /host as compose.yaml and the DaemonSet do (the agent
# image sets OBT_AGENT__HOST_ROOT=/host: without these mounts it reports no CPU or memory).
HOST_FACTS=(-v /proc:/host/proc:ro -v /sys:/host/sys:ro -v /etc/os-release:/host/etc/os-release:ro)
CHECK="python3 $HERE/check_json.py"

say "$AGENT_IMAGE: agent detect --json"
docker run --rm --network host "${LOCKED[@]}" "${HOST_FACTS[@]}" "$AGENT_IMAGE" \
  agent detect --json >"$WORK/detect.json"
$CHECK detect "$WORK/detect.json"

for image in "$AGENT_IMAGE" "$SERVER_IMAGE"; do
  say "$image: --version"
  docker run --rm "${LOCKED[@]}" "$image" --version
done
say "$SERVER_IMAGE: api --help, operator --help"
docker run --rm "${LOCKED[@]}" "$SERVER_IMAGE" api --help >/dev/null
docker run --rm "${LOCKED[@]}" "$SERVER_IMAGE" operator --help >/dev/null
echo "both print their help"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_healthy() {  # URL: wait up to 60 s for /healthz of the running $CONTAINER
  for _ in $(seq 60); do
    curl -fsS "$1/healthz" >/dev/null 2>&1 && return 0
    [[ $(docker inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null) == true ]] || break
    sleep 1
  done
  docker logs "$CONTAINER" >&2 || true
  fail "$CONTAINER did not answer $1/healthz"
}

wait_health() {  # CONTAINER: wait up to 180 s for its HEALTHCHECK to report healthy
  local status
  for _ in $(seq 180); do
    status=$(docker inspect -f '{{if .State.Running}}{{.State.Health.Status}}{{else}}exited{{end}}' "$1")
    [[ $status == healthy ]] && { echo "$1: HEALTHCHECK says healthy"; return 0; }
    [[ $status == unhealthy || $status == exited ]] && break
    sleep 1
  done
  docker logs "$1" >&2 || true
  docker inspect -f '{{json .State.Health}}' "$1" >&2 || true
  fail "$1 is $status, not healthy"
}

PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
say "$SERVER_IMAGE: serve on $BASE (SQLite in a tmpfs data dir)"
docker rm -f -v "$CONTAINER" "$AGENT_CONTAINER" "$API_CONTAINER" >/dev/null 2>&1 || true
docker run -d --name "$CONTAINER" --network host "${LOCKED[@]}" \
  --tmpfs /data:uid=10001,gid=10001,mode=0700 \
  "$SERVER_IMAGE" serve --host 127.0.0.1 --port "$PORT" --data-dir /data >/dev/null
wait_healthy "$BASE"
echo "GET /healthz      -> $(curl -fsS "$BASE/healthz")"
echo "GET /readyz       -> $(curl -fsS "$BASE/readyz")"
curl -fsS "$BASE/" >"$WORK/index.html"
$CHECK dashboard "$WORK/index.html"

say "$AGENT_IMAGE: enroll with a token from \`obt enroll-token create\` and report to serve, --once"
ENROLL=$(docker exec "$CONTAINER" obt enroll-token create --server "$BASE" --data-dir /data \
  --ttl 10m --description images-check 2>&1 | sed -n 's/.*--enroll-token \([^ ]*\).*/\1/p')
[[ -n $ENROLL ]] || fail "obt enroll-token create printed no enrollment token"
docker run --rm --network host "${LOCKED[@]}" "${HOST_FACTS[@]}" "$AGENT_IMAGE" \
  agent --server "$BASE" --enroll-token "$ENROLL" --host-id obt-images-check --once --listen off
curl -fsS "$BASE/api/v1/nodes" >"$WORK/nodes.json"
$CHECK nodes "$WORK/nodes.json" obt-images-check
docker rm -f -v "$CONTAINER" >/dev/null

# compose.yaml's pair, as close as this machine allows: the default command (`api`) on its default
# port 8881 in a network namespace of its own (--network none: nothing on the host is touched),
# SQLite instead of PostgreSQL, and a long-running agent sharing that namespace. Both images'
# HEALTHCHECKs run every 2 s instead of 30 s, and must report healthy.
say "$SERVER_IMAGE: the default command (api) on 8881 as compose.yaml runs it; HEALTHCHECK"
ADMIN_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
docker run -d --name "$API_CONTAINER" --network none "${LOCKED[@]}" \
  --tmpfs /data:uid=10001,gid=10001,mode=0700 --health-interval 2s \
  -e OBT_API__HOST=127.0.0.1 -e OBT_LOG__FORMAT=text \
  -e OBT_DATABASE__URL=sqlite+aiosqlite:////data/obt.db -e OBT_API__PRODUCTION=true \
  -e OBT_API__ADMIN_TOKEN="$ADMIN_TOKEN" \
  "$SERVER_IMAGE" >/dev/null
wait_health "$API_CONTAINER"
in_api() {  # PATH: GET http://127.0.0.1:8881PATH from inside the API's namespace (as admin:
  # `obt api` is closed to anonymous reads)
  docker exec "$API_CONTAINER" python -c 'import sys, urllib.request
r = urllib.request.Request("http://127.0.0.1:8881" + sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
sys.stdout.write(urllib.request.urlopen(r, timeout=5).read().decode())' "$1" "$ADMIN_TOKEN"
}
in_api /api/v1/nodes >"$WORK/nodes.json"
$CHECK nodes "$WORK/nodes.json"
in_api / >"$WORK/index.html"
$CHECK dashboard "$WORK/index.html"

say "$AGENT_IMAGE: a long-running agent next to it, enrolling as compose.yaml's does; HEALTHCHECK"
ENROLL=$(docker exec "$API_CONTAINER" obt enroll-token create --ttl 10m --description images-check 2>&1 \
  | sed -n 's/.*--enroll-token \([^ ]*\).*/\1/p')
[[ -n $ENROLL ]] || fail "obt enroll-token create printed no enrollment token"
docker run -d --name "$AGENT_CONTAINER" --network container:"$API_CONTAINER" "${LOCKED[@]}" \
  "${HOST_FACTS[@]}" --health-interval 2s -e OBT_AGENT__ENROLL_TOKEN="$ENROLL" "$AGENT_IMAGE" \
  agent --server http://127.0.0.1:8881 --host-id obt-images-agent >/dev/null
wait_health "$AGENT_CONTAINER"
for _ in $(seq 30); do
  in_api /api/v1/nodes >"$WORK/nodes.json"
  $CHECK nodes "$WORK/nodes.json" obt-images-agent >/dev/null 2>&1 && break
  sleep 1
done
$CHECK nodes "$WORK/nodes.json" obt-images-agent
docker rm -f -v "$AGENT_CONTAINER" "$API_CONTAINER" >/dev/null

# --- 5. the Compose stack --------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
else
  fail "neither \`docker compose\` nor docker-compose (apt-get install docker-compose)"
fi
compose() { "${COMPOSE[@]}" -p "$COMPOSE_PROJECT" -f "$REPO/compose.yaml" "$@"; }

say "building $POSTGRES_IMAGE (Debian's PostgreSQL, for compose.yaml's postgres service)"
PG_CTX=$WORK/postgres-context
rm -rf "$PG_CTX" && mkdir -p "$PG_CTX"
cp "$HERE/postgres-base.Dockerfile" "$PG_CTX/Dockerfile"
cp "$HERE/postgres-entrypoint.sh" "$PG_CTX/"
docker build --network host -q --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" -t "$POSTGRES_IMAGE" "$PG_CTX"
docker tag "$SERVER_IMAGE" "ghcr.io/obt-dev/obt-server:$COMPOSE_VERSION"
docker tag "$AGENT_IMAGE" "ghcr.io/obt-dev/obt-agent:$COMPOSE_VERSION"

COMPOSE_PORT=$(free_port)
COMPOSE_BASE=http://127.0.0.1:$COMPOSE_PORT
export OBT_VERSION=$COMPOSE_VERSION OBT_POSTGRES_IMAGE=$POSTGRES_IMAGE
export OBT_API_BIND=127.0.0.1 OBT_API_PORT=$COMPOSE_PORT OBT_AGENT_HOST_ID=obt-compose-agent
OBT_ADMIN_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
OBT_POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
export OBT_ADMIN_TOKEN OBT_POSTGRES_PASSWORD
say "compose up -d (${COMPOSE[*]}, project $COMPOSE_PROJECT): postgres + api on $COMPOSE_BASE"
COMPOSE_UP=1
compose up -d --no-build
api_id=$(compose ps -q api)
[[ -n $api_id ]] || fail "compose started no api container"
wait_health "$api_id"
echo "GET /healthz      -> $(curl -fsS "$COMPOSE_BASE/healthz")"
echo "GET /readyz       -> $(curl -fsS "$COMPOSE_BASE/readyz")"
tables=$(compose exec -T postgres psql -U obt -d obt -tAc \
  "select count(*) from information_schema.tables where table_schema = 'public'")
[[ ${tables//[[:space:]]/} -gt 0 ]] || fail "the API created no tables in PostgreSQL"
echo "PostgreSQL: the API's schema is there ($((tables)) tables in database obt)"
curl -fsS "$COMPOSE_BASE/" >"$WORK/index.html"
$CHECK dashboard "$WORK/index.html"

say "compose --profile agent up -d: the agent enrolls with a token from \`obt token create\`"
ENROLL=$(compose exec -T api obt enroll-token create --ttl 10m --description images-check-compose 2>&1 \
  | sed -n 's/.*--enroll-token \([^ ]*\).*/\1/p')
[[ -n $ENROLL ]] || fail "obt enroll-token create printed no enrollment token"
OBT_AGENT_ENROLL_TOKEN=$ENROLL compose --profile agent up -d --no-build agent
agent_id=$(compose ps -q agent)
[[ -n $agent_id ]] || fail "compose started no agent container"
wait_health "$agent_id"
for _ in $(seq 60); do
  curl -fsS "$COMPOSE_BASE/api/v1/nodes" >"$WORK/nodes.json" || true
  $CHECK nodes "$WORK/nodes.json" "$OBT_AGENT_HOST_ID" >/dev/null 2>&1 && break
  sleep 1
done
$CHECK nodes "$WORK/nodes.json" "$OBT_AGENT_HOST_ID"
compose --profile agent ps

say "compose --profile agent down -v"
compose --profile agent down -v --remove-orphans
COMPOSE_UP=
left=$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT")
volumes=$(docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT")
[[ -z $left && -z $volumes ]] || fail "down -v left containers ($left) or volumes ($volumes)"
echo "the Compose stack is gone: no containers, no volumes"

# --- 6. sizes --------------------------------------------------------------------------------
say "image sizes"
docker images --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}' \
  | grep -E "REPOSITORY|^obt" || true
say "OK: both images built and ran, and the Compose stack came up healthy and went away"
