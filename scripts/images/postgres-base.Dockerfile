# TEST TOOLING, not a release image: a local stand-in for the postgres image compose.yaml names
# (docker.io/library/postgres), so that scripts/images/check.sh can bring the Compose stack up on
# a machine that cannot pull from any container registry. Debian bookworm's PostgreSQL 15 on the
# debootstrap'ed obt-local/debian:bookworm, with the parts of the official image's contract that
# compose.yaml uses: POSTGRES_DB / POSTGRES_USER / POSTGRES_PASSWORD create the database on first
# start, data in /var/lib/postgresql/data (a volume), pg_isready on PATH for the healthcheck.
ARG DEBIAN_IMAGE=obt-local/debian:bookworm
FROM ${DEBIAN_IMAGE}
ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 0700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
ENTRYPOINT ["/bin/sh", "/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
