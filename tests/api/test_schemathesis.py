"""Property-based API testing: schemathesis generates requests from the OpenAPI document and
checks every answer (no 5xx, status codes, content types, headers and bodies that the document
declares, 405 with a matching Allow), as each credential in CREDENTIALS. A real uvicorn on
loopback with SQLite; a bounded number of examples per operation (OBT_SCHEMATHESIS_EXAMPLES).

Not generated: /api/v1/events (a stream that never ends; tests/api/test_events*.py) and the demo
seed endpoint (demo mode is off here: bulk fake writes would only slow the run).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from obt.api.app import create_app
from tests.api.conftest import ADMIN, make_settings
from tests.api.pg import free_port

# (name, headers): every kind of caller. The viewer and operator API tokens and a node token are
# made on the live server before the first case (`callers`).
CREDENTIALS: list[tuple[str, dict[str, str]]] = [
    ("anonymous", {}),
    ("admin", {"Authorization": f"Bearer {ADMIN}"}),
]
EXAMPLES = int(os.environ.get("OBT_SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    db = tmp_path_factory.mktemp("schemathesis") / "obt.db"
    # Closed, as `obt api` and the chart are by default: schemathesis' own check that invalid
    # credentials are refused (401/403) then applies to reads too. No failed-check limit: it
    # sends many invalid credentials on purpose.
    auth = {"anonymous_read": False, "failed_per_ip_per_minute": 0}
    app = create_app(make_settings(f"sqlite+aiosqlite:///{db}", demo=False, auth=auth))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            assert thread.is_alive(), "uvicorn did not start"
            threading.Event().wait(0.01)
        assert server.started
        url = f"http://127.0.0.1:{port}"
        CREDENTIALS.extend(_callers(url))
        yield url
    finally:
        server.should_exit = True
        thread.join(15)


def _callers(url: str) -> list[tuple[str, dict[str, str]]]:
    """A viewer and an operator API token and a node token, made through the API itself."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    out: list[tuple[str, dict[str, str]]] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for role in ("viewer", "operator"):
            r = client.post(
                "/api/v1/tokens", json={"role": role, "description": role}, headers=admin
            )
            assert r.status_code == 201, r.text
            out.append((role, {"Authorization": f"Bearer {r.json()['token']}"}))
        r = client.post("/api/v1/enrollment-tokens", json={}, headers=admin)
        assert r.status_code == 201, r.text
        r = client.post(
            "/api/v1/agents/enroll",
            json={"enrollmentToken": r.json()["token"], "hostId": "schemathesis"},
        )
        assert r.status_code == 201, r.text
        out.append(("node", {"Authorization": f"Bearer {r.json()['token']}"}))
    return out


def _document() -> dict[str, Any]:
    # The document the server serves (the same settings, no lifespan needed to build it).
    return create_app(make_settings("sqlite+aiosqlite:///:memory:", demo=False)).openapi()


# A body over the size limit is rejected with 413 (security.GuardMiddleware, the heartbeat's
# 4 KiB): a rejection like the defaults.
# Operations whose bodies have rules JSON Schema does not say, answered 422 naming the field:
# a model name Ollama would refuse, nodes XOR nodeSelector, a task's nodes must exist (this
# server has none), Kubernetes' label syntax. Schema-valid data may meet them.
MODEL_RULES = ["createTask", "createModelSet", "replaceModelSet", "putNodeLabels"]
CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            {
                "include-operation-id": operation_id,
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [
                            "2xx",
                            "3xx",
                            "401",
                            "403",
                            "404",
                            "409",
                            "422",
                            "429",
                            "5xx",
                        ]
                    }
                },
            }
            for operation_id in MODEL_RULES
        ],
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "415",
                    "422",
                    "428",
                    "429",
                    "5xx",
                ]
            }
        },
    }
)
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG).exclude(
    operation_id="streamEvents"
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_answers_as_documented(case: Any, live_url: str) -> None:
    for _name, headers in CREDENTIALS:
        case.call_and_validate(base_url=live_url, headers=headers)
