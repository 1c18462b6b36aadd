# The OBT agent image: `obt agent` with only the `agent` extra (no FastAPI, SQLAlchemy or kopf).
# Build from the repository root:  docker build -f images/agent.Dockerfile -t obt-agent .
# No `# syntax=` line on purpose: the built-in Dockerfile frontend covers everything here, while
# BuildKit would first pull the named syntax image from Docker Hub (fails without a registry).
ARG PYTHON_IMAGE=python:3.12.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/obt
# Only what the wheel is built from; hatch needs all four roots (pyproject's only-include).
COPY pyproject.toml README.md ./
COPY core/ core/
COPY agent/ agent/
COPY operator/ operator/
COPY api/ api/
RUN /opt/obt/bin/pip install '.[agent]' \
 && find /opt/obt -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="obt-agent" \
      org.opencontainers.image.description="OBT agent: reports a machine's hardware and Ollama" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/obt /opt/obt
ENV PATH=/opt/obt/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OBT_AGENT__HOST_ROOT=/host \
    OBT_AGENT__DATA_DIR=/var/lib/obt-agent
# A standalone agent that enrolls (--enroll-token) keeps its node token in the data dir. Its default
# for a non-root user, $HOME/.local/state, is /.local/state for uid 10001 (no passwd entry): not
# writable, so enrolling crashed. Here it is a volume owned by 10001, writable also with a
# read-only root file system (`docker run --read-only`, compose's read_only). The DaemonSet writes
# no state (Kubernetes mode), so the chart needs no volume for it.
RUN install -d -o 10001 -g 10001 -m 0700 /var/lib/obt-agent
VOLUME ["/var/lib/obt-agent"]
# Numeric non-root user, the one the Helm chart's podSecurity.runAsUser expects.
USER 10001:10001
EXPOSE 9881
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9881/healthz', timeout=4)"]
ENTRYPOINT ["obt"]
CMD ["agent"]
