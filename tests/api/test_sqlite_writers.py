"""SQLite with concurrent writers in one process: a seed and heartbeat flushes at once.

Before the write lock in db/engine.py, seeding 5,000 nodes into a running `obt serve` failed the
batched heartbeat update with `sqlite3.OperationalError: database is locked` (the seed held the
file longer than the busy timeout). Here the busy timeout is cut to 50 ms so that any wait on
SQLite's own lock would fail at once: writers of one process must queue on `write_lock`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from obt.api.agents.ingest import AgentIngest, Credential
from obt.api.db.engine import make_engine, make_sessionmaker, migrate, write_session
from obt.api.db.tables import Node, NodeCredential
from obt.api.events.bus import EventBus
from obt.api.fake import fake_name, fake_status
from obt.api.nodes.store import NodeRecord, NodeStore, utcnow


def _records(count: int, variant: int = 0) -> list[NodeRecord]:
    return [
        NodeRecord(
            name=fake_name(i, "seed"),
            spec={"source": "daemonset", "nodeName": fake_name(i, "seed")},
            status=fake_status(i, models=20, variant=variant),
            labels={"zone": f"zone-{i % 3}"},
        )
        for i in range(count)
    ]


async def test_seed_and_heartbeat_flushes_at_once_on_file_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}", sqlite_busy_timeout_s=0.05)
    try:
        await migrate(engine)
        sessions = make_sessionmaker(engine)
        store = NodeStore(sessions, EventBus())
        ingest = AgentIngest(sessions, store, flush_interval_s=3600)
        hosts = [f"host-{i:03d}" for i in range(200)]
        async with write_session(sessions) as session:
            for name in hosts:
                session.add(
                    NodeCredential(
                        node_name=name,
                        token_hash=f"{hash(name) & 0xFFFFFFFF:064x}",
                        host_id=name,
                        created_at=utcnow(),
                    )
                )
        for name in hosts:
            cred = Credential(node_name=name, host_id=name, display_name=None, labels={})
            ingest.by_name[name] = cred
        stop = asyncio.Event()
        flushes = 0

        async def heartbeats() -> None:
            nonlocal flushes
            while not stop.is_set():
                now = utcnow()
                for name in hosts:
                    ingest.by_name[name].last_seen = now
                    ingest._dirty.add(name)
                await ingest.flush()
                flushes += 1
                await asyncio.sleep(0)

        flusher = asyncio.create_task(heartbeats())
        # Two seeds and a re-seed with other content, interleaved with the flushes.
        written = await asyncio.gather(
            store.upsert_many(_records(600), chunk=100),
            store.upsert_many(_records(600, variant=1)[300:], chunk=100),
        )
        stop.set()
        await flusher
        assert written[0] + written[1] >= 600
        assert flushes > 1
        async with sessions() as session:
            assert (await session.execute(select(func.count()).select_from(Node))).scalar() == 600
            seen = (
                await session.execute(
                    select(func.count())
                    .select_from(NodeCredential)
                    .where(NodeCredential.last_heartbeat_at.is_not(None))
                )
            ).scalar()
        assert seen == len(hosts)
    finally:
        await engine.dispose()
