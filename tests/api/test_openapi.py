"""The OpenAPI document the dashboard's client is generated from is the API's own, and stable.

That the committed frontend/openapi.json is what the API generates now is checked with every
other generated file in tests/core/test_generated.py (`make generate` rewrites them).
"""

from __future__ import annotations

import json

from tests.support.fixtures import REPO

COMMITTED = REPO / "frontend" / "openapi.json"


def test_every_operation_has_a_stable_camel_case_id() -> None:
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    ids = [
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
    ]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert operation_id[0].islower(), operation_id
        assert "_" not in operation_id, operation_id
    for expected in ("listNodes", "getNode", "listModels", "getFleetSummary", "streamEvents"):
        assert expected in ids
