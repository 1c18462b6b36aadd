"""The list, search and summary query paths and migration 0002's indexes, on both backends.

Search results are checked against Python's `in` over the stored search text, and the same seed is
queried on SQLite and PostgreSQL side by side, so both backends answer alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from obt.api.db.engine import make_engine, migrate
from obt.api.fake import fake_report
from obt.api.nodes.store import utcnow
from tests.api.conftest import Api, make_settings, running_api

TERMS = ["llama", "H100", "fake-0001", "q4_k", "mi300x", "zzzq", "a", "100%_", ":", "-000"]
QUERIES: list[dict[str, Any]] = [
    *({"search": t} for t in TERMS),
    {"search": "llama", "gpuVendor": "nvidia", "sort": "-vramFree"},
    {"search": "llama", "phase": "Ready", "sort": "-models", "limit": 7, "offset": 3},
    {"search": "fake", "limit": 5, "offset": 100},
    {"gpuVendor": ["amd", "apple"], "sort": "gpus"},
    {"label": "zone", "sort": "-name"},
    {"minFreeVramBytes": 1, "sort": "vramTotal", "limit": 4},
    {"limit": 6, "offset": 30},
]


async def seed(api: Api, count: int = 40, models: int = 30) -> None:
    r = await api.client.post(
        "/api/v1/admin/seed", json={"count": count, "models": models}, headers=api.admin
    )
    assert r.status_code == 200, r.text


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_times(v)
            for k, v in value.items()
            if k not in ("createdAt", "updatedAt", "phaseSince", "lastSeenAt")
        }
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


async def test_search_equals_substring_of_search_text(api: Api) -> None:
    await seed(api)
    async with api.state.engine.connect() as conn:
        stored = dict((await conn.execute(text("SELECT name, search_text FROM nodes"))).all())
    for term in TERMS:
        want = sorted(n for n, t in stored.items() if term.lower() in t)
        page = (await api.client.get("/api/v1/nodes", params={"search": term, "limit": 500})).json()
        assert [i["name"] for i in page["items"]] == want, term
        assert page["total"] == len(want), term


async def test_model_filters_use_the_child_rows(api: Api) -> None:
    await seed(api)
    model = fake_report(3, models=30).ollama.models[0].name
    want = {
        f"fake-{i:05d}"
        for i in range(40)
        if model in {m.name for m in fake_report(i, models=30).ollama.models}
    }
    page = (await api.client.get("/api/v1/nodes", params={"hasModel": model, "limit": 500})).json()
    assert {i["name"] for i in page["items"]} == want and page["total"] == len(want)


async def test_fleet_summary_equals_plain_aggregates(api: Api) -> None:
    await seed(api)
    assert (
        await api.client.delete("/api/v1/admin/nodes/fake-00007", headers=api.admin)
    ).status_code == 204
    s = (await api.client.get("/api/v1/fleet/summary")).json()
    async with api.state.engine.connect() as conn:
        one = lambda sql: conn.execute(text(sql))  # noqa: E731
        assert s["nodes"] == (await one("SELECT count(*) FROM nodes")).scalar_one() == 39
        assert (
            s["modelsDistinct"]
            == (await one("SELECT count(DISTINCT name) FROM node_models")).scalar_one()
        )
        assert (
            s["modelsLoaded"] == (await one("SELECT count(*) FROM node_loaded_models")).scalar_one()
        )
        vendors = dict((await one("SELECT vendor, count(*) FROM node_gpus GROUP BY vendor")).all())
        versions = dict(
            (await one("SELECT ollama_version, count(*) FROM nodes GROUP BY ollama_version")).all()
        )
        sums = (
            await one(
                "SELECT sum(vram_total_bytes), sum(vram_loaded_bytes), sum(ram_total_bytes), "
                "sum(gpu_count) FROM nodes"
            )
        ).one()
    assert s["gpusByVendor"] == vendors
    assert s["ollamaVersions"] == {str(k) if k else "unknown": v for k, v in versions.items()}
    assert [s["vramTotalBytes"], s["vramLoadedBytes"], s["ramTotalBytes"], s["gpus"]] == [
        int(v) for v in sums
    ]
    assert s["byPhase"] == {"Ready": 39} and s["bySource"] == {"daemonset": 39}
    assert s["removedLastHour"] == 1


async def test_fleet_summary_of_an_empty_fleet(api: Api) -> None:
    s = (await api.client.get("/api/v1/fleet/summary")).json()
    assert s["nodes"] == 0 and s["byPhase"] == {} and s["modelsDistinct"] == 0
    assert s["vramTotalBytes"] == 0 and s["gpusByVendor"] == {}


def _downgrade(connection: Any, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from obt.api.db.engine import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def test_migration_0002_indexes_and_round_trip(api: Api) -> None:
    async with api.state.engine.connect() as conn:
        indexes = await conn.run_sync(
            lambda c: {
                t: {i["name"] for i in inspect(c).get_indexes(t)}
                for t in ("nodes", "node_models", "node_gpus", "node_labels", "node_loaded_models")
            }
        )
        assert "ix_node_models_name_node" in indexes["node_models"]
        assert "ix_node_gpus_vendor_node" in indexes["node_gpus"]
        assert "ix_node_labels_key_value_node" in indexes["node_labels"]
        assert "ix_node_loaded_models_name_node" in indexes["node_loaded_models"]
        assert "ix_node_gpus_vendor" not in indexes["node_gpus"]
        if conn.dialect.name == "postgresql":
            assert "ix_nodes_search_text_trgm" in indexes["nodes"]
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(
                (
                    await conn.execute(
                        text("EXPLAIN SELECT name FROM nodes WHERE search_text LIKE '%h100%'")
                    )
                ).scalars()
            )
            assert "ix_nodes_search_text_trgm" in plan, plan
    # Down to 0001 and back up on the live schema.
    generation = "SELECT generation FROM fleet_generation"
    async with api.state.engine.begin() as conn:
        before = (await conn.execute(text(generation))).scalar_one()
        await conn.run_sync(_downgrade, "0001")
    async with api.state.engine.connect() as conn:
        gpus = await conn.run_sync(
            lambda c: {i["name"] for i in inspect(c).get_indexes("node_gpus")}
        )
        assert gpus == {"ix_node_gpus_vendor"}
    await migrate(api.state.engine)
    async with api.state.engine.connect() as conn:
        # A re-created generation never repeats one that totals may be cached for.
        assert (await conn.execute(text(generation))).scalar_one() > before
    await seed(api, 3)
    assert (await api.client.get("/api/v1/nodes", params={"search": "fake"})).json()["total"] == 3


@pytest.mark.postgres
async def test_without_pg_trgm_the_migration_still_succeeds(pg_url: str | None) -> None:
    """A role that may not create extensions: no trigram index, and search still works."""
    if pg_url is None:
        pytest.skip("PostgreSQL not available")
    import psycopg

    admin_dsn = pg_url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0]
    with psycopg.connect(admin_dsn + "/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS obt_noext")
        conn.execute("DROP ROLE IF EXISTS obt_noext")
        conn.execute("CREATE ROLE obt_noext LOGIN")
        conn.execute("CREATE DATABASE obt_noext")
    with psycopg.connect(admin_dsn + "/obt_noext", autocommit=True) as conn:
        conn.execute("GRANT ALL ON SCHEMA public TO obt_noext")
    url = pg_url.replace("postgres@", "obt_noext@").rsplit("/", 1)[0] + "/obt_noext"
    engine = make_engine(url)
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            names = await conn.run_sync(
                lambda c: {i["name"] for i in inspect(c).get_indexes("nodes")}
            )
            ext = (
                await conn.execute(
                    text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
                )
            ).scalar_one()
        assert ext == 0 and "ix_nodes_search_text_trgm" not in names
    finally:
        await engine.dispose()
    async with running_api(make_settings(url)) as running:
        await seed(running, 5, 5)
        r = await running.client.get("/api/v1/nodes", params={"search": "fake-0000"})
        assert r.json()["total"] == 5


@pytest.mark.postgres
async def test_sqlite_and_postgresql_answer_alike(pg_url: str | None, tmp_path: Path) -> None:
    if pg_url is None:
        pytest.skip("PostgreSQL not available")
    from tests.api.conftest import _truncate

    answers: dict[str, list[Any]] = {}
    for backend, url in (("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}"), ("pg", pg_url)):
        async with running_api(make_settings(url)) as running:
            await _truncate(running.state)
            await seed(running)
            got = []
            for params in QUERIES:
                r = await running.client.get("/api/v1/nodes", params=params)
                assert r.status_code == 200, (params, r.text)
                got.append(_without_times(r.json()))
            summary = (await running.client.get("/api/v1/fleet/summary")).json()
            got.append(summary)
            answers[backend] = got
    for params, a, b in zip([*QUERIES, "summary"], answers["sqlite"], answers["pg"], strict=True):
        assert a == b, params
    assert any(a["total"] > 0 for a in answers["pg"][:-1])


async def test_cached_totals_follow_every_write(api: Api) -> None:
    """Totals are cached per fleet generation (migration 0003): every kind of node write (new
    nodes, changed content, a removal, a phase verdict) must show in the next total, and a
    repeated query must answer what a fresh count answers."""
    from obt.api.nodes import service

    async def total(**params: Any) -> int:
        r = await api.client.get("/api/v1/nodes", params={"limit": 1, **params})
        assert r.status_code == 200, r.text
        return int(r.json()["total"])

    async def fresh(**params: Any) -> int:
        service.forget_matches()
        return await total(**params)

    await seed(api, 12, models=10)
    queries: list[dict[str, Any]] = [
        {"search": "llama"},
        {"search": "fake"},
        {"phase": "NotReady"},
        {"search": "llama", "gpuVendor": "nvidia"},
    ]
    before = [await total(**q) for q in queries]
    assert before == [await total(**q) for q in queries]  # served from the cache
    assert before == [await fresh(**q) for q in queries]
    await seed(api, 15, models=10)  # three more nodes
    assert await total(search="fake") == 15
    r = await api.client.post(
        "/api/v1/admin/seed", json={"count": 15, "models": 0}, headers=api.admin
    )  # same nodes, no models any more
    assert r.status_code == 200, r.text
    assert await total(search="llama") == await fresh(search="llama") == 0
    r = await api.client.delete("/api/v1/admin/nodes/fake-00000", headers=api.admin)
    assert r.status_code == 204
    assert await total(search="fake") == 14
    await api.state.store.set_phase("fake-00001", "NotReady", [], utcnow())
    assert await total(phase="NotReady") == await fresh(phase="NotReady")
    # Paging through a search: every page reports the same total as a fresh count.
    await seed(api, 30, models=10)
    want = await fresh(search="llama")
    for offset in range(0, 30, 7):
        assert await total(search="llama", offset=offset) == want


async def test_kept_match_sets_equal_a_fresh_count_through_random_writes(api: Api) -> None:
    """The list keeps the names each recent query matched and re-tests only the nodes written
    since (migration 0004). Through random writes of every kind — new nodes, other models and
    GPUs, phase verdicts, removals, a removed node coming back, several writes between two
    queries, rows deleted behind the store's back — every total equals a fresh count, and a
    query after a write re-reads only what was written."""
    import random

    from obt.api.fake import fake_status
    from obt.api.nodes import service
    from obt.api.nodes.store import NodeRecord
    from tests.api.conftest import empty_tables

    rng = random.Random(4)
    store = api.state.store
    queries: list[dict[str, Any]] = [
        {"search": "llama"},
        {"search": "  LLaMa "},  # the same test as "llama": one kept set
        {"search": "fake-0001"},
        {"gpuVendor": "nvidia"},
        {"search": "llama", "gpuVendor": ["amd", "nvidia"], "phase": "Ready"},
        {"hasModel": "llama3.1:8b-instruct-q4_K_M"},
        {"minFreeVramBytes": 1},
        {"label": "zone=zone-1"},
        {},
    ]

    def record(i: int) -> NodeRecord:
        name = f"fake-{i:05d}"
        return NodeRecord(
            name=name,
            spec={"source": "daemonset", "nodeName": name},
            status=fake_status(
                i,
                models=rng.choice([0, 3, 10]),
                variant=rng.randrange(4),
                phase=rng.choice(["Ready", "NotReady"]),
            ),
            labels={"zone": f"zone-{rng.randrange(3)}"},
        )

    async def totals() -> list[int]:
        out = []
        for q in queries:
            r = await api.client.get("/api/v1/nodes", params={"limit": 1, **q})
            assert r.status_code == 200, r.text
            out.append(int(r.json()["total"]))
        return out

    async def fresh() -> list[int]:
        service.forget_matches()
        return await totals()

    await store.upsert_many([record(i) for i in range(30)])
    assert await totals() == await fresh()
    full_reads = {k: m.counted_at for k, m in service._MATCHES.items()}
    assert len(full_reads) == len(queries) - 1  # "llama" and "  LLaMa " share one set
    for step in range(60):
        for _ in range(rng.choice([1, 1, 2, 5])):
            action = rng.random()
            i = rng.randrange(40)
            if action < 0.5:
                await store.upsert(record(i))
            elif action < 0.7:
                await store.remove(f"fake-{i:05d}", "test")
            else:
                phase = rng.choice(["Ready", "NotReady", "Unknown"])
                await store.set_phase(f"fake-{i:05d}", phase, [], utcnow())
        cached = await totals()
        # Brought up to date from the written rows, not read in full again.
        assert {k: m.counted_at for k, m in service._MATCHES.items()} == full_reads, step
        assert cached == await fresh(), step
        full_reads = {k: m.counted_at for k, m in service._MATCHES.items()}
    # Rows deleted behind the store's back (no tombstones): the reset generation is raised
    # (as tests/api/conftest.py's empty_tables does), so no kept set older than it is trusted.
    await totals()
    await empty_tables(api.state.engine)
    assert await totals() == [0] * len(queries)
    await store.upsert_many([record(i) for i in range(5)])
    assert await totals() == await fresh()


async def test_migration_0004_keeps_every_row(api: Api) -> None:
    """0004 copies no table (on SQLite a batch copy of `nodes` would cascade-delete its child
    rows): every row survives both directions, and totals are right after it."""
    from tests.api.conftest import TABLES

    await seed(api, 6, models=5)
    r = await api.client.delete("/api/v1/admin/nodes/fake-00005", headers=api.admin)
    assert r.status_code == 204

    async def counts(tables: list[str]) -> dict[str, int]:
        async with api.state.engine.connect() as conn:
            return {
                t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                for t in tables
            }

    # node_changes is 0004's own table; the tables of later migrations do not exist at 0003.
    later = {
        "node_changes",  # 0004
        "auth_sessions",  # 0007
        "api_tokens",
        "audit_log",  # 0008
        "tasks",  # 0009
        "model_sets",
        "benchmark_results",  # 0010
        "benchmarks",
    }
    older = [t for t in TABLES if t not in later]
    before = await counts(older)
    assert before["node_models"] == 25 and before["tombstones"] == 1
    async with api.state.engine.begin() as conn:
        await conn.run_sync(_downgrade, "0003")
    assert await counts(older) == before
    await migrate(api.state.engine)
    assert await counts(older) == before
    assert await counts(["node_changes"]) == {"node_changes": 0}
    assert (await api.client.get("/api/v1/nodes", params={"search": "fake"})).json()["total"] == 5
