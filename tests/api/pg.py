"""A throwaway PostgreSQL server for the API tests.

pytest-postgresql's executor cannot start PostgreSQL as root (postgres refuses to), and the build
machines run the suite as root; so this starts the server itself with initdb + pg_ctl, as the
`postgres` OS user when run as root. With CI=true (or 1) a missing server fails the run.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an asyncpg SQLAlchemy URL of a fresh server; stop it afterwards."""
    pg_ctl, initdb = find_bin("pg_ctl"), find_bin("initdb")
    if not pg_ctl or not initdb:
        raise FileNotFoundError("pg_ctl/initdb not found (install PostgreSQL: make tools)")
    root = Path(tempfile.mkdtemp(prefix="obt-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        root.chmod(0o755)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [
            *prefix,
            initdb,
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    # Durability off: a test database is thrown away; this makes writes several times faster.
    opts = (
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE obt")
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/obt"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
