"""`obt nodes` and `obt models` as a person runs them: the real `obt` command in a subprocess
against a live `obt serve --demo` (SQLite in a temporary directory, on a loopback port), with
fake nodes from the seed endpoint and one standalone host that enrolled and reported through the
real agent API. Covers the tables, -o wide, -o json, every filter, and the errors and exit codes
a script relies on (issue 11, must show 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from obt.api.fake import fake_report
from obt.cli.client import EXIT_NOT_FOUND, EXIT_UNREACHABLE, EXIT_USAGE
from tests.api.live_serve import Live, live_serve
from tests.api.pg import free_port

GIB = 1024**3


def _laptop_report() -> str:
    """A standalone host with llama3.2 (as Ollama lists it: llama3.2:latest) loaded."""
    report = fake_report(2, models=2)
    first = report.ollama.models[0]
    report.ollama.models = [
        first.model_copy(update={"name": "llama3.2:latest", "size": 2 * GIB}),
        report.ollama.models[1],
    ]
    report.ollama.loaded = (
        [
            report.ollama.loaded[0].model_copy(
                update={"name": "llama3.2:latest", "digest": first.digest, "size_vram": GIB}
            )
        ]
        if report.ollama.loaded
        else []
    )
    assert report.ollama.loaded, "fake node 2 has a model loaded"
    return report.model_dump_json(by_alias=True)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_serve(tmp_path_factory.mktemp("serve"), "--demo") as live, live.admin() as http:
        for body in (
            {"count": 3, "prefix": "rack", "models": 4},
            {"count": 1, "prefix": "down", "models": 1, "phase": "NotReady"},
        ):
            r = http.post("/api/v1/admin/seed", json=body)
            assert r.status_code == 200, r.text
        token = http.post("/api/v1/enrollment-tokens", json={}).json()["token"]
        enrolled = httpx.post(
            live.base + "/api/v1/agents/enroll",
            json={"enrollmentToken": token, "hostId": "laptop", "labels": {"room": "office"}},
            timeout=30,
        )
        assert enrolled.status_code == 201, enrolled.text
        r = http.put(
            "/api/v1/agents/laptop/report",
            content=_laptop_report(),
            headers={
                "Authorization": f"Bearer {enrolled.json()['token']}",
                "Content-Type": "application/json",
            },
        )
        assert r.status_code == 200, r.text
        yield live


def _rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines()]


def test_table_has_kubectl_columns(live: Live) -> None:
    rows = _rows(live.ok("nodes"))
    assert rows[0] == [
        "NAME", "STATUS", "OLLAMA", "MODELS", "LOADED", "GPUS", "VRAM", "SINCE", "AGE"
    ]  # fmt: skip
    names = [r[0] for r in rows[1:]]
    assert names == ["down-00000", "laptop", "rack-00000", "rack-00001", "rack-00002"]
    laptop = next(line for line in live.ok("nodes").splitlines() if line.startswith("laptop"))
    assert " Ready " in laptop and " 2 " in laptop  # two models
    expected = fake_report(2).summary()
    assert expected.gpus in laptop  # e.g. '2x A100-40GB 40GB', from obt.core.summary


def test_wide_adds_os_cpu_agent_source(live: Live) -> None:
    out = live.ok("nodes", "-o", "wide")
    header = out.splitlines()[0].split()
    assert header[-4:] == ["OS", "CPU", "AGENT", "SOURCE"]
    laptop = next(line for line in out.splitlines() if line.startswith("laptop"))
    assert laptop.endswith("standalone") and "Ubuntu 22.04" in laptop
    assert next(line for line in out.splitlines() if line.startswith("rack-")).endswith("daemonset")


def test_json_is_the_apis_objects(live: Live) -> None:
    nodes = json.loads(live.ok("nodes", "-o", "json"))
    assert len(nodes) == 5 and {n["name"] for n in nodes} >= {"laptop", "down-00000"}
    laptop = json.loads(live.ok("nodes", "laptop", "-o", "json"))
    assert laptop["name"] == "laptop" and laptop["labels"] == {"room": "office"}
    assert [m["name"] for m in laptop["loaded"]] == ["llama3.2:latest"]


def test_filters(live: Live) -> None:
    def names(*args: str) -> list[str]:
        return sorted(n["name"] for n in json.loads(live.ok("nodes", "-o", "json", *args)))

    assert names("--phase", "NotReady") == ["down-00000"]
    assert names("--phase", "NotReady", "--phase", "Ready") == names()
    assert names("--selector", "room=office") == ["laptop"]
    assert names("-l", "zone=zone-1") == ["rack-00001"]
    assert names("-l", "obt.dev/fake,zone!=zone-0") == ["rack-00001", "rack-00002"]
    assert names("-l", "!zone") == ["laptop"]
    # An implicit tag means :latest, as in Ollama.
    assert names("--loaded", "llama3.2") == ["laptop"]
    assert names("--loaded", "registry.ollama.ai/library/llama3.2:latest") == ["laptop"]
    assert names("--installed", "llama3.2") == ["laptop"]
    assert names("--loaded", "llama3.2:70b") == []
    # The table says so on stderr when nothing matches; still exit 0.
    empty = live.obt("nodes", "--phase", "Pending")
    assert empty.returncode == 0 and empty.stdout == "" and "No nodes found" in empty.stderr


def test_one_node_in_detail(live: Live) -> None:
    out = live.ok("nodes", "laptop")
    assert "Name:" in out and "laptop" in out
    assert "Labels:" in out and "room=office" in out
    assert "llama3.2:latest" in out and "loaded" in out
    assert "Source:" in out and "standalone" in out


def test_models_catalogue_and_placement(live: Live) -> None:
    rows = _rows(live.ok("models"))
    assert rows[0] == ["NAME", "NODES", "LOADED", "SIZE", "FAMILY", "PARAMETERS", "QUANTIZATION"]
    assert any(r[0] == "llama3.2:latest" and r[1] == "1" and r[2] == "1" for r in rows[1:])
    wide = live.ok("models", "-o", "wide")
    line = next(x for x in wide.splitlines() if x.startswith("llama3.2:latest"))
    assert line.split()[-2:] == ["laptop", "laptop"]  # installed on, loaded on
    every = json.loads(live.ok("models", "-o", "json"))
    llama = next(m for m in every if m["name"] == "llama3.2:latest")
    assert llama["nodes"] == ["laptop"] and llama["loadedOn"] == ["laptop"]
    found = json.loads(live.ok("models", "--search", "llama3.2", "-o", "json"))
    assert [m["name"] for m in found] == ["llama3.2:latest"]
    # One model by the name a person types.
    detail = live.ok("models", "llama3.2")
    assert "Name:       llama3.2:latest" in detail
    assert "Installed:  laptop" in detail and "Loaded:     laptop" in detail
    assert "Placement:" in detail
    placed = json.loads(live.ok("models", "llama3.2", "-o", "json"))
    assert placed["nodes"] == ["laptop"] and placed["placement"]["name"] == "llama3.2:latest"


def test_not_found_exits_3_naming_what(live: Live) -> None:
    node = live.obt("nodes", "no-such-node")
    assert node.returncode == EXIT_NOT_FOUND == 3
    assert "node 'no-such-node' not found" in node.stderr and live.base in node.stderr
    model = live.obt("models", "nope")
    assert model.returncode == 3 and "model 'nope:latest' is on no node" in model.stderr


def test_unreachable_server_exits_4_naming_the_url(live: Live) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    for args in (("nodes",), ("models",), ("nodes", "laptop")):
        result = live.obt(*args, server=closed)
        assert result.returncode == EXIT_UNREACHABLE == 4, result.stderr
        assert f"cannot reach the OBT API at {closed}" in result.stderr
        assert "obt serve" in result.stderr


def test_bad_usage_exits_2(live: Live) -> None:
    for args in (
        ("nodes", "-l", "zone in (a,b)"),
        ("nodes", "--phase", "Sleeping"),
        ("nodes", "-o", "yaml"),
        ("nodes", "laptop", "--phase", "Ready"),
        ("nodes", "--server", "127.0.0.1:8881"),
    ):
        result = live.obt(*args)
        assert result.returncode == EXIT_USAGE == 2, (args, result.stderr)
        assert "Error" in result.stderr, (args, result.stderr)
    assert "zone in (a,b)" in live.obt("nodes", "-l", "zone in (a,b)").stderr
    assert "'Sleeping' is not one of" in live.obt("nodes", "--phase", "Sleeping").stderr


def test_help_documents_the_exit_codes(live: Live) -> None:
    for command in ("nodes", "models"):
        out = live.ok(command, "--help")
        assert "Exit codes:" in out and "3  not found" in out and "4  the server" in out
