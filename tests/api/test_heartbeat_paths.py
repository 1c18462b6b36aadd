"""The heartbeat fast path and the documented FastAPI route give the same answers.

`api.client` goes through the app's dispatcher, which hands heartbeats to the fast path;
`app.full_stack` is FastAPI's own stack, whose routing reaches the documented route.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from obt.api.agents.heartbeat import (
    BAD_DIGEST,
    HEARTBEAT_TOO_LARGE,
    MAX_HEARTBEAT_BYTES,
    TOKEN_REQUIRED,
)
from tests.api.conftest import Api, make_settings, running_api
from tests.api.test_agents import enroll, new_token

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

Answer = tuple[int, Any, dict[str, str]]


@asynccontextmanager
async def routed(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api.app.full_stack, client=("127.0.0.1", 50000))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://obt.test") as client:
        yield client


async def both(api: Api, name: str, **request: Any) -> tuple[Answer, Answer]:
    """The same heartbeat sent down each path: (status, JSON body, the headers that matter)."""
    answers = []
    async with routed(api) as full_stack:
        for client in (api.client, full_stack):
            r = await client.post(f"/api/v1/agents/{name}/heartbeat", **request)
            headers = {
                k: r.headers[k]
                for k in ("content-type", "www-authenticate", "retry-after")
                if k in r.headers
            }
            answers.append((r.status_code, r.json(), headers))
    return answers[0], answers[1]


async def test_both_paths_answer_alike(api: Api) -> None:
    name, auth = await enroll(api, "h")
    other, other_auth = await enroll(api, "other")
    beat = {"digest": "0" * 64}

    fast, full = await both(api, name, json=beat, headers=auth)
    generation = api.state.actions.store.work_generation if api.state.actions else -1
    assert fast == full
    assert fast == (
        200,
        {"reportNeeded": True, "workGeneration": generation},
        {"content-type": "application/json"},
    )

    fast, full = await both(api, name, json=beat)
    assert fast == full
    assert fast == (
        401,
        {"detail": TOKEN_REQUIRED},
        {"content-type": "application/json", "www-authenticate": "Bearer"},
    )

    fast, full = await both(api, name, json=beat, headers=other_auth)
    assert fast == full
    assert fast[:2] == (403, {"detail": f"this token belongs to node {other!r}, not {name!r}"})

    padded = json.dumps({"digest": "0" * 64, "pad": "x" * MAX_HEARTBEAT_BYTES}).encode()
    fast, full = await both(
        api, name, content=padded, headers={**auth, "content-type": "application/json"}
    )
    assert fast == full
    assert fast[:2] == (413, {"detail": HEARTBEAT_TOO_LARGE})
    assert HEARTBEAT_TOO_LARGE == "heartbeat body larger than 4096 bytes"

    for bad in ({"digest": "xyz"}, {}, {"digest": 7}):
        fast, full = await both(api, name, json=bad, headers=auth)
        assert fast == full
        assert fast[:2] == (422, {"detail": BAD_DIGEST, "errors": []}), bad
    fast, full = await both(
        api, name, content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    assert fast == full
    assert fast[:2] == (422, {"detail": BAD_DIGEST, "errors": []})

    fast, full = await both(
        api, name, json={"digest": "0" * 64, "telemetry": {"gpus": "none"}}, headers=auth
    )
    assert fast == full
    assert fast[0] == 422
    assert fast[1]["detail"].startswith("telemetry.gpus: ")
    assert [e["loc"] for e in fast[1]["errors"]] == [["body", "telemetry", "gpus"]]

    fast, full = await both(api, "n" * 254, json=beat, headers=auth)
    assert fast == full
    assert fast[0] == 422
    assert fast[1]["detail"] == "name (path): String should have at most 253 characters"

    # Bad input from an unknown caller is refused for the token first, on both paths.
    fast, full = await both(api, name, json={"digest": "xyz"})
    assert fast == full
    assert fast[0] == 401


async def test_both_paths_rate_limit_alike(db_url: str) -> None:
    # 6 a minute: a burst of 1, then one every 10 s.
    settings = make_settings(
        db_url,
        rate_limit={
            "per_token_per_minute": 6,
            "per_ip_per_minute": 0,
            "enroll_per_ip_per_minute": 0,
        },
    )
    async with running_api(settings) as api:
        token = await new_token(api)
        answers = []
        for host in ("fast", "full"):
            name, auth = await enroll(api, host, token)
            async with routed(api) as full_stack:
                client = api.client if host == "fast" else full_stack
                for _ in range(2):
                    r = await client.post(
                        f"/api/v1/agents/{name}/heartbeat",
                        json={"digest": "0" * 64},
                        headers=auth,
                    )
                    answers.append((r.status_code, r.json(), r.headers.get("retry-after")))
        assert [a[0] for a in answers] == [200, 429, 200, 429]
        for _, body, retry in (answers[1], answers[3]):
            assert retry is not None and 1 <= int(retry) <= 10
            assert body == {
                "detail": f"rate limit exceeded for this node token; retry after {retry}s"
            }
