"""nodes/store.py writes only the child rows that differ, in batches; the result must equal a
fresh derivation of the node, on both backends."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select

from obt.api.db.tables import Node, NodeGpu, NodeLabel, NodeLoadedModel, NodeModel
from obt.api.fake import fake_status
from obt.api.nodes.store import NodeRecord, _derive, utcnow
from tests.api.conftest import Api

_TABLES = {NodeModel: "models", NodeLoadedModel: "loaded", NodeGpu: "gpus", NodeLabel: None}


async def _stored(api: Api, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with api.state.sessions() as session:
        for table in _TABLES:
            cols = list(table.__table__.columns)
            rows = (await session.execute(select(*cols).where(table.node_name == name))).mappings()
            out[table.__tablename__] = sorted((dict(r) for r in rows), key=repr)
        node = (await session.execute(select(Node).where(Node.name == name))).scalar_one()
        out["model_count"] = node.model_count
    return out


def _expected(record: NodeRecord) -> dict[str, Any]:
    d = _derive(record, utcnow())
    labels = [{"node_name": record.name, "key": k, "value": v} for k, v in record.labels.items()]
    return {
        "node_models": sorted(d.models, key=repr),
        "node_loaded_models": sorted(d.loaded, key=repr),
        "node_gpus": sorted(d.gpus, key=repr),
        "node_labels": sorted(labels, key=repr),
        "model_count": d.values["model_count"],
    }


async def test_child_rows_follow_every_kind_of_change(api: Api) -> None:
    store = api.state.store
    status = fake_status(5, models=12)
    records = [
        NodeRecord(name=f"n{i}", spec={"source": "daemonset"}, status=copy.deepcopy(status))
        for i in range(3)
    ]
    records[0].labels = {"zone": "a", "rack": "1"}
    assert await store.upsert_many(records) == 3
    writes = store.writes
    assert await store.upsert_many(copy.deepcopy(records)) == 0  # nothing new: nothing written
    assert store.writes == writes

    changed = copy.deepcopy(records[0])
    ollama = changed.status["ollama"]
    ollama["models"] = ollama["models"][3:]  # three removed
    first = ollama["models"][0].split(" ")  # wire lines: "name digest size family ..."
    first[1] = "f" * 12
    ollama["models"][0] = " ".join(first)  # one changed in place
    ollama["models"].append("brand-new:1b " + ollama["models"][1].split(" ", 1)[1])  # one added
    ollama["loaded"] = []
    gpus = changed.status["hardware"]["gpus"]
    if gpus:
        gpus[0]["name"] = "Renamed GPU"
    changed.labels = {"zone": "b", "new": "x"}  # one changed, one removed, one added
    untouched = records[1]
    assert await store.upsert_many([changed, untouched]) == 1
    assert await _stored(api, "n0") == _expected(changed)
    assert await _stored(api, "n1") == _expected(untouched)
    assert await _stored(api, "n2") == _expected(records[2])
    # Everything gone, then back.
    empty = copy.deepcopy(changed)
    empty.status["ollama"]["models"] = []
    empty.labels = {}
    await store.upsert(empty)
    assert await _stored(api, "n0") == _expected(empty)
    await store.upsert(records[0])
    assert await _stored(api, "n0") == _expected(records[0])
