#!/usr/bin/env bash
# Run the end-to-end suite (tests/e2e) against a real Kubernetes cluster made with kind:
#   1. create a kind cluster: a control-plane node and three workers whose node labels fake one
#      accelerator profile each (NVIDIA GPU Feature Discovery's, the AMD GPU Operator's, none);
#   2. build the two images (images/*.Dockerfile) and load them into the cluster's nodes;
#   3. install the chart with them (bundled PostgreSQL; the nvidia profile without a RuntimeClass,
#      since kind's nodes have no NVIDIA runtime), wait until every kind node's OllamaNode is
#      Ready, then uninstall it and delete those OllamaNodes (the CRD stays), so that the suite's
#      own processes own the fleet;
#   4. run `pytest tests/e2e` with OBT_E2E_CLUSTER=1 and KUBECONFIG naming the kind cluster;
#   5. delete the cluster (also on failure; --keep leaves it).
#
# It CANNOT run on this project's build machines: they reach no container registry, so kind can pull
# no node image (kindest/node) and the chart's PostgreSQL image cannot be pulled either. Run it where
# Docker, kind, kubectl and helm work and registries are reachable. What can be checked here is
# checked by the normal suite (tests/cluster_path): the e2e suite through the same KUBECONFIG path
# against the in-repo API test server, and this script's arguments with --dry-run, which prints the
# steps without running any of them.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLUSTER=obt-e2e
NODE_IMAGE=""
TAG=e2e
DRY_RUN=0
KEEP=0

usage() {
  cat <<USAGE
usage: scripts/kind-e2e.sh [--dry-run] [--keep] [--name NAME] [--node-image IMAGE] [--tag TAG]

  --dry-run           print the steps, run nothing
  --keep              leave the kind cluster running afterwards
  --name NAME         kind cluster name (default obt-e2e; lowercase letters, digits, '-')
  --node-image IMAGE  kind node image, e.g. kindest/node:v1.31.0 (default: kind's own; >= 1.30)
  --tag TAG           tag of the locally built obt-agent / obt-server images (default e2e)
USAGE
}

die() {
  echo "kind-e2e.sh: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --keep) KEEP=1 ;;
    --name | --node-image | --tag)
      [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#-}" = "$2" ] || die "$1 needs a value"
      case "$1" in
        --name) CLUSTER=$2 ;;
        --node-image) NODE_IMAGE=$2 ;;
        --tag) TAG=$2 ;;
      esac
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      die "unknown argument '$1'"
      ;;
  esac
  shift
done

[[ $CLUSTER =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "--name '$CLUSTER' is not a valid cluster name (lowercase letters, digits and '-')"
[[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--tag '$TAG' is not a valid image tag"

run() {
  echo "+ $*"
  if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

WORK=${TMPDIR:-/tmp}/obt-kind-e2e-$CLUSTER
KUBECONFIG_FILE=$WORK/kubeconfig
NS=obt-system
AGENT_IMAGE=docker.io/library/obt-agent:$TAG
SERVER_IMAGE=docker.io/library/obt-server:$TAG
KIND_CONFIG="kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
    labels:
      nvidia.com/gpu.present: \"true\"
  - role: worker
    labels:
      feature.node.kubernetes.io/amd-gpu: \"true\"
  - role: worker"

if [ "$DRY_RUN" = 0 ]; then
  for tool in docker kind kubectl helm; do
    command -v "$tool" >/dev/null || die "$tool is required (see the comment at the top of this script)"
  done
  mkdir -p "$WORK"
  printf '%s\n' "$KIND_CONFIG" >"$WORK/kind.yaml"
  if [ "$KEEP" = 0 ]; then
    trap 'kind delete cluster --name "$CLUSTER" || true' EXIT
  fi
else
  echo "# kind config ($WORK/kind.yaml):"
  printf '%s\n' "$KIND_CONFIG" | sed 's/^/#   /'
fi

cd "$REPO"
# 1. the cluster
run kind create cluster --name "$CLUSTER" --config "$WORK/kind.yaml" --kubeconfig "$KUBECONFIG_FILE" \
  ${NODE_IMAGE:+--image "$NODE_IMAGE"} --wait 120s
# 2. the images, built here and loaded into every kind node (no registry involved)
run docker build -f images/agent.Dockerfile -t "$AGENT_IMAGE" .
run docker build -f images/server.Dockerfile -t "$SERVER_IMAGE" .
run kind load docker-image "$AGENT_IMAGE" "$SERVER_IMAGE" --name "$CLUSTER"
# 3. the chart, until every kind node reports Ready
run kubectl --kubeconfig "$KUBECONFIG_FILE" create namespace "$NS"
run kubectl --kubeconfig "$KUBECONFIG_FILE" label namespace "$NS" pod-security.kubernetes.io/enforce=privileged
run helm install obt charts/obt --kubeconfig "$KUBECONFIG_FILE" -n "$NS" --wait --timeout 5m \
  --set image.registry=docker.io --set image.pullPolicy=Never \
  --set agent.image.repository=library/obt-agent --set agent.image.tag="$TAG" \
  --set operator.image.repository=library/obt-server --set operator.image.tag="$TAG" \
  --set api.image.repository=library/obt-server --set api.image.tag="$TAG" \
  --set agent.profiles.nvidia.runtimeClassName= --set postgresql.enabled=true
run kubectl --kubeconfig "$KUBECONFIG_FILE" wait ollamanodes --all --for=jsonpath='{.status.phase}'=Ready --timeout=180s
run kubectl --kubeconfig "$KUBECONFIG_FILE" get ollamanodes -o wide
run helm uninstall obt --kubeconfig "$KUBECONFIG_FILE" -n "$NS" --wait
# The kind nodes' OllamaNodes would now be judged agent-less by the suite's operator: start clean.
run kubectl --kubeconfig "$KUBECONFIG_FILE" delete ollamanodes --all
# 4. the end-to-end suite, its Kubernetes API being the kind cluster
run env OBT_E2E_CLUSTER=1 KUBECONFIG="$KUBECONFIG_FILE" "$REPO/.venv/bin/pytest" tests/e2e -q
# 5. the cluster goes (trap), unless --keep
if [ "$KEEP" = 1 ]; then
  echo "# kept: kind delete cluster --name $CLUSTER"
else
  echo "# deleting kind cluster $CLUSTER"
fi
