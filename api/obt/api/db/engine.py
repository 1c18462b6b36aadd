"""Engine and session factory; migrations run here on start-up."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


SQLITE_BUSY_TIMEOUT_S = 30.0


def make_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    sqlite_busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
) -> AsyncEngine:
    """`sqlite_busy_timeout_s`: how long a SQLite writer waits for another *process's* write
    transaction; writers inside this process queue on `write_lock` instead and never wait here."""
    kwargs: dict[str, Any] = {"echo": echo}
    if is_sqlite(url):
        if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
            kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"timeout": sqlite_busy_timeout_s}
    else:
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        busy_ms = int(sqlite_busy_timeout_s * 1000)
        event.listen(
            engine.sync_engine, "connect", lambda conn, rec: _sqlite_pragmas(conn, rec, busy_ms)
        )
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, busy_ms: int) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the one writer; foreign keys: cascading child rows.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={busy_ms}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class _NoLock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()
_write_locks: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


def write_lock(target: AsyncEngine | async_sessionmaker[AsyncSession]) -> Any:
    """SQLite allows one writer per database: the write transactions of this process take turns
    on one asyncio lock per engine, so they queue in the event loop instead of failing with
    "database is locked" when one of them (a 5,000-node seed) holds the file longer than the busy
    timeout. PostgreSQL: no lock (row locks do this job)."""
    engine = target if isinstance(target, AsyncEngine) else target.kw["bind"]
    if engine.dialect.name != "sqlite":
        return _NO_LOCK
    lock = _write_locks.get(engine.sync_engine)
    if lock is None:
        lock = _write_locks[engine.sync_engine] = asyncio.Lock()
    return lock


@asynccontextmanager
async def write_session(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A write transaction: `write_lock` held (SQLite), session begun, committed on exit."""
    async with write_lock(sessions), sessions() as session, session.begin():
        yield session


def _alembic_upgrade(connection: Connection, revision: str = "head") -> None:
    import logging

    from alembic import command
    from alembic.config import Config

    # Alembic logs every plugin at INFO on each start; only problems matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


# Process-wide on purpose: Alembic keeps its migration context in module globals, so two apps in
# one process (the tests, `obt serve` restarts) must not migrate at the same moment.
_migrate_lock = asyncio.Lock()


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` (Alembic); safe to run on every start."""
    async with _migrate_lock, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several replicas starting together: one migrates, the others wait.
            from sqlalchemy import text

            await conn.execute(text("SELECT pg_advisory_xact_lock(8881)"))
        await conn.run_sync(_alembic_upgrade, revision)
