# The OBT server image: `obt api` (with the dashboard) and `obt operator`; the chart runs both from it.
# Build from the repository root:  docker build -f images/server.Dockerfile -t obt-server .
# No `# syntax=` line on purpose: the built-in Dockerfile frontend covers everything here, while
# BuildKit would first pull the named syntax image from Docker Hub (fails without a registry).
# Node >= 20.19: vite 7's minimum (frontend/package.json engines); 20.18 is below it.
ARG NODE_IMAGE=node:20.19-bookworm-slim
ARG PYTHON_IMAGE=python:3.12.7-slim-bookworm

# 1. The SvelteKit dashboard, built to static files (adapter-static -> frontend/build), with pnpm
#    at the version frontend/package.json pins ("packageManager"; a test keeps the two equal),
#    installed with npm: corepack would fetch it from its own URL, not the configured registry.
FROM ${NODE_IMAGE} AS dashboard
ARG PNPM_VERSION=10.34.9
WORKDIR /frontend
RUN npm install --global --no-audit --no-fund "pnpm@${PNPM_VERSION}"
COPY frontend/package.json frontend/pnpm-lock.yaml ./
RUN pnpm install --frozen-lockfile
COPY frontend/ ./
RUN pnpm run build

# 2. The Python package with the dashboard inside it (served by the API from obt/api/static).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/obt
COPY pyproject.toml README.md ./
COPY core/ core/
COPY agent/ agent/
COPY operator/ operator/
COPY api/ api/
# .gitignore is not copied on purpose: hatch would otherwise leave the ignored static/ out of the wheel.
COPY --from=dashboard /frontend/build/ api/obt/api/static/
# The check asks the venv's own Python where obt.api lives: no pythonX.Y path hard-coded.
RUN /opt/obt/bin/pip install '.[server]' \
 && /opt/obt/bin/python -c "import importlib.util, pathlib, sys; \
spec = importlib.util.find_spec('obt.api'); \
index = pathlib.Path(spec.origin).parent / 'static' / 'index.html'; \
sys.exit(0 if index.is_file() else f'dashboard missing from the wheel: {index}')" \
 && find /opt/obt -name '__pycache__' -prune -exec rm -rf {} +

# 3. Runtime: the virtualenv only, as a numeric non-root user.
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="obt-server" \
      org.opencontainers.image.description="OBT API, dashboard and operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/obt /opt/obt
ENV PATH=/opt/obt/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 8881
# Checks the API (the default command); Kubernetes uses the chart's probes instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8881/healthz', timeout=4)"]
ENTRYPOINT ["obt"]
CMD ["api"]
