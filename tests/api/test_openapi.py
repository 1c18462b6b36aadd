"""The OpenAPI document the dashboard's client is generated from is the API's own, and stable."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.fixtures import REPO

COMMITTED = REPO / "frontend" / "openapi.json"


def current_document() -> str:
    return subprocess.run(
        [sys.executable, "-m", "obt.api.openapi"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_committed_openapi_matches_the_api() -> None:
    assert current_document() == COMMITTED.read_text(encoding="utf-8"), (
        "frontend/openapi.json is stale: run `.venv/bin/python -m obt.api.openapi > "
        "frontend/openapi.json && (cd frontend && pnpm run gen:api)` and commit both"
    )


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
