# TEST TOOLING, not a release image: a local stand-in for python:3.12-slim-bookworm, so that
# images/*.Dockerfile can be built on a machine that cannot pull from any container registry.
# Built by scripts/images/check.sh (PYTHON_IMAGE build arg) on top of a debootstrap'ed Debian
# imported as obt-local/debian:bookworm. Debian bookworm's python3 is 3.11, which OBT supports
# (requires-python >= 3.10); it also proves that the Dockerfiles do not depend on 3.12 paths.
# extra-ca/ holds the host's locally added CA certificates (check.sh copies them from
# /usr/local/share/ca-certificates): on a network whose HTTPS egress goes through an intercepting
# proxy, pip inside the builds must trust the same CAs as the host. Usually empty elsewhere.
ARG DEBIAN_IMAGE=obt-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY extra-ca/ /usr/local/share/ca-certificates/
# ca-certificates' postinst runs update-ca-certificates, which adds extra-ca/*.crt to the bundle.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python-is-python3 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && python --version
CMD ["python3"]
