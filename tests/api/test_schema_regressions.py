"""What schemathesis found first (tests/api/test_schemathesis.py), each pinned: numbers past the
database's 64-bit range, a body that is not JSON, and 405 with the full Allow header."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

TOO_BIG = str(2**63)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/api/v1/nodes?minVramBytes={TOO_BIG}", "minVramBytes (query)"),
        (f"/api/v1/nodes?minFreeVramBytes={TOO_BIG}", "minFreeVramBytes (query)"),
        (f"/api/v1/nodes?offset={TOO_BIG}", "offset (query)"),
        (f"/api/v1/models?offset={TOO_BIG}", "offset (query)"),
        (f"/api/v1/models/placement?name=llama3&requiredBytes={TOO_BIG}", "requiredBytes (query)"),
    ],
)
async def test_numbers_past_64_bits_are_422_naming_the_parameter(
    api: Api, path: str, field: str
) -> None:
    r = await api.client.get(path)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{field}: Input should be less than or equal to")
    # The largest value that fits is accepted.
    ok = await api.client.get(path.replace(TOO_BIG, str(2**63 - 1)))
    assert ok.status_code == 200, ok.text


async def test_a_body_that_is_not_json_is_422_naming_the_body(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/enrollment-tokens",
        content=b"\xff\x1a\x19/{\xfe",
        headers={**api.admin, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == "body: not valid JSON"
    assert r.json()["errors"][0]["type"] == "json_invalid"


async def test_405_names_every_method_of_the_path_in_allow(api: Api) -> None:
    # GET and DELETE of /api/v1/nodes/{name} are declared in two routers.
    r = await api.client.request("PATCH", "/api/v1/nodes/some-node")
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET"
    assert r.json()["detail"] == "method PATCH not allowed here; allowed: DELETE, GET"
    r = await api.client.request("PUT", "/api/v1/fleet/summary")
    assert (r.status_code, r.headers["allow"]) == (405, "GET")
