# TEST TOOLING, not a release image: a local stand-in for node:20.19-bookworm-slim, so that
# images/server.Dockerfile can be built on a machine that cannot pull from any container registry.
# Debian bookworm's nodejs (18) is too old for vite 7 (Node >= 20.19), so scripts/images/check.sh
# copies this machine's own Node install into the build context (node binary + npm package) and
# builds this file on top of the debootstrap'ed obt-local/debian:bookworm, with the same layout
# as the official image (/usr/local/bin/node, /usr/local/lib/node_modules/npm).
# extra-ca.pem: the host's locally added CA certificates (empty elsewhere), for npm behind an
# HTTPS-intercepting egress proxy; Node adds them to its built-in CA list.
ARG DEBIAN_IMAGE=obt-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
ENV LANG=C.UTF-8 NODE_EXTRA_CA_CERTS=/usr/local/share/obt-extra-ca.pem
COPY extra-ca.pem /usr/local/share/obt-extra-ca.pem
COPY node /usr/local/bin/node
COPY npm/ /usr/local/lib/node_modules/npm/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
CMD ["node"]
