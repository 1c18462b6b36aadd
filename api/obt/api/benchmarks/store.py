"""The SQL side of benchmarks: results (kept for good), local-mode benchmarks, compare, history.

Every result enters through `store_result` (agents' posts, the cluster mirror): an insert that
does nothing when the name is stored already, with the regression computed against the history
of the same node and model (obt.core.bench.regression) and stored with it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from sqlalchemy import Select, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from obt.api.benchmarks.schemas import (
    BenchmarkResult,
    BestMachine,
    CompareCell,
    CompareMatrix,
    CompareRow,
    HistoryPoint,
)
from obt.api.db.engine import write_session
from obt.api.db.tables import BenchmarkResultRow, BenchmarkRow
from obt.api.events.bus import CHANNEL, EventBus
from obt.core import bench
from obt.core.models.benchmark import (
    OllamaBenchmark,
    OllamaBenchmarkResultSpec,
    OllamaBenchmarkSpec,
    OllamaBenchmarkStatus,
    Regression,
)

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
PLACEMENT_LABELS = {"gpu": "full GPU", "split": "split GPU/CPU", "cpu": "CPU only"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def dns_name(text: str, limit: int) -> str:
    """Lower-case letters, digits and '-', no leading/trailing '-', at most `limit` long."""
    name = _NOT_DNS.sub("-", text.lower()).strip("-")
    return re.sub(r"-{2,}", "-", name)[:limit].strip("-") or "x"


def result_name(spec: OllamaBenchmarkResultSpec) -> str:
    """`<benchmark>-<node>-<model>-<6 hex>`: the same measurement posted twice gets one name."""
    key = "|".join(
        [
            spec.benchmark,
            spec.benchmark_uid or "",
            spec.node,
            spec.model,
            spec.measured_at.isoformat(),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:6]
    return f"{dns_name(f'{spec.benchmark}-{spec.node}-{spec.model}', 200)}-{digest}"


def new_uid() -> str:
    return str(uuid.uuid4())


def benchmark_name(spec: OllamaBenchmarkSpec) -> str:
    """`bench-<first model>-<5 random chars>` for a benchmark created without a name."""
    return f"{dns_name('bench-' + spec.models[0].name, 50)}-{uuid.uuid4().hex[:5]}"


# -- events -------------------------------------------------------------------------------------


@dataclass
class Announcer:
    """SSE events of benchmark writes: NOTIFY inside the transaction on PostgreSQL (every
    replica hears it at commit), delivered after the commit on SQLite (one process)."""

    bus: EventBus
    dialect: str

    async def queue(self, session: AsyncSession, events: list[dict[str, Any]]) -> None:
        if self.dialect == "postgresql" and events:
            await session.execute(
                text(
                    "SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[]))"
                    " WITH ORDINALITY AS t(p, i) ORDER BY i"
                ),
                {"channel": CHANNEL, "payloads": [json.dumps(e, default=str) for e in events]},
            )

    def delivered(self, events: list[dict[str, Any]]) -> None:
        if self.dialect != "postgresql":
            for event in events:
                self.bus.deliver(event)


def result_event(name: str, spec: OllamaBenchmarkResultSpec) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "benchmark.result",
        "name": name,
        "benchmark": spec.benchmark,
        "node": spec.node,
        "model": spec.model,
        "at": utcnow().isoformat(),
    }
    if spec.regression is not None:
        event["regression"] = spec.regression.changed
    return event


def progress_event(name: str, status: OllamaBenchmarkStatus) -> dict[str, Any]:
    return {
        "type": "benchmark.progress",
        "name": name,
        "phase": status.phase,
        "selected": status.selected,
        "done": status.done,
        "running": status.running,
        "skipped": status.skipped,
        "failed": status.failed,
        "at": utcnow().isoformat(),
    }


# -- results ------------------------------------------------------------------------------------


def spec_of(row: BenchmarkResultRow) -> OllamaBenchmarkResultSpec:
    return OllamaBenchmarkResultSpec.model_validate(row.spec)


async def node_model_history(
    session: AsyncSession, node: str, model: str
) -> list[tuple[str, OllamaBenchmarkResultSpec]]:
    rows = (
        await session.execute(
            select(BenchmarkResultRow)
            .where(BenchmarkResultRow.node == node, BenchmarkResultRow.model == model)
            .order_by(BenchmarkResultRow.measured_at)
        )
    ).scalars()
    return [(row.name, spec_of(row)) for row in rows]


async def store_result(
    session: AsyncSession, name: str, spec: OllamaBenchmarkResultSpec
) -> OllamaBenchmarkResultSpec | None:
    """Insert a result (regression computed now); None when that name is stored already."""
    if await session.get(BenchmarkResultRow, name) is not None:
        return None
    history = await node_model_history(session, spec.node, spec.model)
    found: Regression | None = bench.regression(spec, history)
    spec = spec.model_copy(update={"regression": found or spec.regression})
    session.add(
        BenchmarkResultRow(
            name=name,
            benchmark=spec.benchmark,
            benchmark_uid=spec.benchmark_uid,
            node=spec.node,
            model=spec.model,
            fingerprint=spec.fingerprint,
            comparable_key=bench.comparable_key(spec.facts),
            placement=spec.placement,
            **{
                f"{figure}_{part}": getattr(getattr(spec, attr), part)
                for figure, attr in (("pp", "pp"), ("tg", "tg"), ("ttft", "ttft_ms"))
                for part in ("mean", "stddev", "cv", "n")
            },
            flags=list(spec.flags),
            cached=spec.cached,
            measured_at=spec.measured_at,
            stored_at=utcnow(),
            spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            regression=(
                spec.regression.model_dump(mode="json", by_alias=True) if spec.regression else None
            ),
        )
    )
    await session.flush()
    return spec


async def ingest(
    sessions: async_sessionmaker[AsyncSession],
    announcer: Announcer,
    name: str,
    spec: OllamaBenchmarkResultSpec,
) -> OllamaBenchmarkResultSpec | None:
    """`store_result` in its own write transaction, announced (`benchmark.result`)."""
    async with write_session(sessions) as session:
        stored = await store_result(session, name, spec)
        events = [result_event(name, stored)] if stored is not None else []
        await announcer.queue(session, events)
    announcer.delivered(events)
    return stored


def to_result(row: BenchmarkResultRow, *, full: bool = False) -> BenchmarkResult:
    """A row as the API lists it; `full`: with its whole spec (exports)."""
    spec = spec_of(row)
    return BenchmarkResult(
        name=row.name,
        benchmark=row.benchmark,
        node=row.node,
        model=row.model,
        fingerprint=row.fingerprint,
        comparable_key=row.comparable_key,
        placement=spec.placement,
        pp=spec.pp,
        tg=spec.tg,
        ttft_ms=spec.ttft_ms,
        flags=spec.flags,
        cached=spec.cached,
        measured_at=spec.measured_at,
        ollama_version=spec.facts.ollama_version,
        model_digest=spec.facts.model_digest,
        gpu_driver=spec.facts.gpu_driver,
        gpus=spec.facts.gpus,
        regression=spec.regression,
        spec=spec if full else None,
    )


@dataclass(frozen=True)
class ResultFilter:
    model: str | None = None
    node: str | None = None
    benchmark: str | None = None
    fingerprint: str | None = None
    since: datetime | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        r = BenchmarkResultRow
        for column, value in (
            (r.model, self.model),
            (r.node, self.node),
            (r.benchmark, self.benchmark),
            (r.fingerprint, self.fingerprint),
        ):
            if value is not None:
                query = query.where(column == value)
        if self.since is not None:
            query = query.where(r.measured_at >= self.since)
        return query


async def list_results(
    session: AsyncSession, where: ResultFilter, limit: int, offset: int
) -> tuple[list[BenchmarkResultRow], int]:
    total = (
        await session.execute(where.apply(select(func.count()).select_from(BenchmarkResultRow)))
    ).scalar_one()
    rows = (
        await session.execute(
            where.apply(select(BenchmarkResultRow))
            .order_by(BenchmarkResultRow.measured_at.desc(), BenchmarkResultRow.name)
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    return list(rows), int(total)


CSV_COLUMNS = [
    "name",
    "benchmark",
    "node",
    "model",
    "modelDigest",
    "ollamaVersion",
    "gpus",
    "gpuDriver",
    "placement",
    "ppMean",
    "ppStddev",
    "ppCv",
    "ppN",
    "tgMean",
    "tgStddev",
    "tgCv",
    "tgN",
    "ttftMsMean",
    "ttftMsStddev",
    "flags",
    "cached",
    "measuredAt",
    "fingerprint",
    "comparableKey",
    "regression",
]


def csv_row(result: BenchmarkResult) -> list[str]:
    def num(value: float) -> str:
        return f"{value:.4g}" if abs(value) < 1e-3 else f"{value:.3f}".rstrip("0").rstrip(".")

    return [
        result.name,
        result.benchmark,
        result.node,
        result.model,
        result.model_digest,
        result.ollama_version,
        "; ".join(result.gpus),
        result.gpu_driver or "",
        result.placement,
        num(result.pp.mean),
        num(result.pp.stddev),
        num(result.pp.cv),
        str(result.pp.n),
        num(result.tg.mean),
        num(result.tg.stddev),
        num(result.tg.cv),
        str(result.tg.n),
        num(result.ttft_ms.mean),
        num(result.ttft_ms.stddev),
        " ".join(result.flags),
        "true" if result.cached else "false",
        result.measured_at.isoformat(),
        result.fingerprint,
        result.comparable_key,
        result.regression.changed if result.regression else "",
    ]


# -- compare and history ------------------------------------------------------------------------


def compare(rows: Sequence[BenchmarkResultRow], key: str | None = None) -> CompareMatrix:
    """The nodes x models matrix: per model, the latest result of each node under one comparable
    key (`key`, else the key most results of that model share; ties: the newest), so that no
    cell compares a different model digest, Ollama version, option or prompt set. `best` is the
    node with the highest tg, labelled with its placement."""
    by_model: dict[str, list[BenchmarkResultRow]] = {}
    for row in rows:
        by_model.setdefault(row.model, []).append(row)
    out_rows: list[CompareRow] = []
    for model in sorted(by_model):
        mine = by_model[model]
        counts = Counter(r.comparable_key for r in mine)
        newest = {k: max(r.measured_at for r in mine if r.comparable_key == k) for k in counts}
        chosen = key if key is not None else max(counts, key=lambda k: (counts[k], newest[k]))
        if chosen not in counts:
            continue
        latest: dict[str, BenchmarkResultRow] = {}
        for row in mine:
            if row.comparable_key != chosen:
                continue
            held = latest.get(row.node)
            if held is None or (row.measured_at, row.name) > (held.measured_at, held.name):
                latest[row.node] = row
        cells = [
            CompareCell(
                node=r.node,
                result=r.name,
                pp_mean=r.pp_mean,
                pp_stddev=r.pp_stddev,
                tg_mean=r.tg_mean,
                tg_stddev=r.tg_stddev,
                ttft_ms=r.ttft_mean,
                cv=max(r.pp_cv, r.tg_cv),
                placement=r.placement,
                flags=list(r.flags or []),
                measured_at=r.measured_at,
            )
            for r in sorted(latest.values(), key=lambda r: r.node)
        ]
        best = None
        if cells:
            top = max(cells, key=lambda c: (c.tg_mean, c.node))
            full = [c for c in cells if c.placement == "gpu"]
            best = BestMachine(
                node=top.node,
                tg_mean=top.tg_mean,
                placement=top.placement,
                label=PLACEMENT_LABELS[top.placement],
                best_full_gpu=(
                    max(full, key=lambda c: (c.tg_mean, c.node)).node
                    if top.placement != "gpu" and full
                    else None
                ),
            )
        sample = spec_of(next(iter(latest.values()))) if latest else None
        out_rows.append(
            CompareRow(
                model=model,
                key=chosen,
                ollama_version=sample.facts.ollama_version if sample else "",
                model_digest=sample.facts.model_digest if sample else "",
                other_keys=sum(1 for r in mine if r.comparable_key != chosen),
                cells=cells,
                best=best,
            )
        )
    nodes = sorted({c.node for row in out_rows for c in row.cells})
    return CompareMatrix(nodes=nodes, rows=out_rows)


def history_point(row: BenchmarkResultRow) -> HistoryPoint:
    spec = spec_of(row)
    return HistoryPoint(
        result=row.name,
        benchmark=row.benchmark,
        measured_at=spec.measured_at,
        pp=spec.pp,
        tg=spec.tg,
        ttft_ms=spec.ttft_ms,
        fingerprint=spec.fingerprint,
        ollama_version=spec.facts.ollama_version,
        gpu_driver=spec.facts.gpu_driver,
        placement=spec.placement,
        flags=spec.flags,
        cached=spec.cached,
        regression=spec.regression,
    )


# -- benchmarks (local mode; the mirror's rows in cluster mode) -----------------------------------


def to_benchmark(row: BenchmarkRow) -> OllamaBenchmark:
    return OllamaBenchmark.model_validate(
        {
            "metadata": {
                "name": row.name,
                "uid": row.uid,
                "generation": row.generation,
                "resourceVersion": row.resource_version,
                "creationTimestamp": row.created_at.isoformat(),
            },
            "spec": row.spec,
            "status": row.status or {},
        }
    )


def benchmark_values(obj: OllamaBenchmark) -> dict[str, Any]:
    """The row's columns for a benchmark object (mirror and local writes alike)."""
    meta = obj.metadata
    return {
        "uid": meta.uid or "",
        "generation": meta.generation or 1,
        "resource_version": meta.resource_version,
        "spec": obj.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        "status": obj.status.model_dump(mode="json", by_alias=True, exclude_none=True),
        "phase": obj.status.phase,
    }


async def upsert_benchmark(session: AsyncSession, obj: OllamaBenchmark) -> bool:
    """Write a benchmark row; False when it already said the same."""
    values = benchmark_values(obj)
    row = await session.get(BenchmarkRow, obj.metadata.name)
    now = utcnow()
    if row is None:
        session.add(
            BenchmarkRow(
                name=obj.metadata.name,
                created_at=obj.metadata.creation_timestamp or now,
                updated_at=now,
                **values,
            )
        )
        await session.flush()
        return True
    if _older(values["resource_version"], row.resource_version) or all(
        getattr(row, k) == v for k, v in values.items()
    ):
        return False
    for k, v in values.items():
        setattr(row, k, v)
    row.updated_at = now
    await session.flush()
    return True


def _older(incoming: str | None, stored: str | None) -> bool:
    """A resourceVersion older than the stored one (etcd's are increasing integers; others
    are not compared): a write that raced the mirror must not undo a newer state."""
    try:
        return incoming is not None and stored is not None and int(incoming) < int(stored)
    except ValueError:
        return False


class WorkCounter(Protocol):
    """The work generation's keeper (obt.api.actions.store.ActionStore): standalone agents
    fetch their work again when it moves, so benchmarks raise it too."""

    async def commit_events(
        self, session: AsyncSession, events: list[dict[str, Any]], *, work: bool
    ) -> None: ...

    def after_commit(self, events: list[dict[str, Any]]) -> None: ...


async def raise_work(
    work: WorkCounter | None, session: AsyncSession, names: Sequence[str], change: str
) -> list[dict[str, Any]]:
    """Inside a write transaction that created, changed or deleted benchmarks: raise the work
    generation and queue one `benchmark.changed` event per name (call `work.after_commit` with
    the answer once committed)."""
    if work is None or not names:
        return []
    events: list[dict[str, Any]] = [
        {"type": "benchmark.changed", "name": name, "change": change, "at": utcnow().isoformat()}
        for name in names
    ]
    await work.commit_events(session, events, work=True)
    return events


async def delete_benchmark(session: AsyncSession, name: str) -> bool:
    """Delete a benchmark row (never its results)."""
    done = await session.execute(delete(BenchmarkRow).where(BenchmarkRow.name == name))
    return bool(getattr(done, "rowcount", 0))


async def all_benchmarks(session: AsyncSession) -> list[OllamaBenchmark]:
    rows = (await session.execute(select(BenchmarkRow).order_by(BenchmarkRow.created_at))).scalars()
    return [to_benchmark(r) for r in rows]


async def open_benchmarks(session: AsyncSession) -> list[OllamaBenchmark]:
    """Benchmarks not finished, oldest first: what agents may have work for (the standalone
    agents' work answer includes them)."""
    rows = (
        await session.execute(
            select(BenchmarkRow)
            .where(BenchmarkRow.phase.in_(("Pending", "Running")))
            .order_by(BenchmarkRow.created_at, BenchmarkRow.name)
        )
    ).scalars()
    return [to_benchmark(r) for r in rows]


async def results_of(
    session: AsyncSession, benchmark: str
) -> list[tuple[str, OllamaBenchmarkResultSpec]]:
    rows = (
        await session.execute(
            select(BenchmarkResultRow).where(BenchmarkResultRow.benchmark == benchmark)
        )
    ).scalars()
    return [(r.name, spec_of(r)) for r in rows]
