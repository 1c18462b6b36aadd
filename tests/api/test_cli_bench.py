"""`obt bench` as a person runs it: the real `obt` command in a subprocess against a real API
(uvicorn on loopback, SQLite) with an enrolled standalone host whose agent posts its result
through the node-token route: run --wait (progress, then the results table), results in
table/json/csv, compare, list, get, cancel, and the usage errors (issue 16)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from obt.api.fake import fake_report
from obt.cli.client import EXIT_ERROR, EXIT_NOT_FOUND, EXIT_USAGE
from tests.api.bench_support import T0, result, wire
from tests.api.conftest import ADMIN, Api, make_settings, served_api
from tests.api.test_agents import enroll, put_report
from tests.api.test_mirror import wait_for

OBT = Path(sys.executable).with_name("obt")


async def obt(api: Api, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ, OBT_SERVER=str(api.client.base_url), OBT_TOKEN=ADMIN)
    proc = await asyncio.create_subprocess_exec(
        str(OBT),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def ok(api: Api, *args: str) -> str:
    code, out, err = await obt(api, *args)
    assert code == 0, (args, out, err)
    return out


async def test_obt_bench_against_a_real_api(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'obt.db'}")
    async with served_api(settings) as api:
        host, auth = await enroll(api, "cli-box")
        await put_report(api, host, auth, fake_report(1, models=2))

        # run --wait: the command waits while the node's agent measures and posts.
        waiting = asyncio.create_task(
            obt(api, "bench", "run", "llama3.2", "--nodes", host, "--name", "cli", "--wait")
        )

        async def created() -> Any:
            r = await api.client.get("/api/v1/benchmarks/cli")
            return r.json() if r.status_code == 200 else None

        bench = await wait_for(created, 60, "the benchmark the CLI creates")
        assert bench["spec"]["repetitions"] == 5 and bench["spec"]["maxAge"] == "7d"
        spec = result(host, T0, tg=45.0, benchmark="cli")
        spec.benchmark_uid = bench["metadata"]["uid"]
        r = await api.client.post(
            f"/api/v1/agents/{host}/benchmark-results", json=wire(spec), headers=auth
        )
        assert r.status_code == 201, r.text
        code, out, err = await waiting
        assert code == 0, (out, err)
        assert "cli: Succeeded, 1/1 measured (0 reused)" in err
        header, row = out.strip().splitlines()
        for column in (
            "NODE",
            "MODEL",
            "PP TOK/S",
            "TG TOK/S",
            "TTFT",
            "CV",
            "PLACEMENT",
            "CACHED",
        ):
            assert column in header
        assert row.split()[:2] == [host, "llama3.2:latest"]
        assert "45.0 ± 0.4" in row and "gpu" in row and row.rstrip().endswith("no")

        # results in every format
        out = await ok(api, "bench", "results", "--model", "llama3.2")
        assert host in out and "AGE" in out.splitlines()[0]
        items = json.loads(await ok(api, "bench", "results", "--node", host, "-o", "json"))
        assert [i["benchmark"] for i in items] == ["cli"]
        rows = list(csv.DictReader(io.StringIO(await ok(api, "bench", "results", "-o", "csv"))))
        assert rows[0]["node"] == host and rows[0]["tgMean"] == "45"
        assert "No results found." in (await obt(api, "bench", "results", "--node", "nope"))[2]

        # compare: the matrix and the best machine
        out = await ok(api, "bench", "compare")
        assert "BEST" in out and f"{host} (full GPU)" in out and "45.0 ± 0.4" in out
        matrix = json.loads(await ok(api, "bench", "compare", "--model", "llama3.2", "-o", "json"))
        assert matrix["rows"][0]["best"]["node"] == host

        # list, get, cancel
        out = await ok(
            api, "bench", "run", "llama3.2", "--selector", "room=office", "--name", "second"
        )
        assert "benchmark second created" in out
        out = await ok(api, "bench", "list")
        assert out.splitlines()[0].split()[:3] == ["NAME", "PHASE", "DONE"]
        assert "cli" in out and "second" in out
        out = await ok(api, "bench", "get", "cli")
        assert "Succeeded" in out and "45.0 ± 0.4" in out
        assert "cancelled" in await ok(api, "bench", "cancel", "second")
        got = json.loads(await ok(api, "bench", "get", "second", "-o", "json"))
        assert got["benchmark"]["spec"]["cancel"] is True

        # errors: exit codes and messages naming what was wrong
        code, _, err = await obt(api, "bench", "run", "llama3.2")
        assert code == EXIT_USAGE and "--nodes" in err
        code, _, err = await obt(api, "bench", "run", "llama3.2", "--nodes", host, "--reps", "3")
        assert code == EXIT_USAGE and "--reps" in err
        code, _, err = await obt(api, "bench", "run", "x", "--nodes", host, "--max-age", "soon")
        assert code == EXIT_USAGE and "--max-age" in err
        code, _, err = await obt(api, "bench", "run", "x", "--nodes", "ghost")
        assert code == EXIT_USAGE and "spec.nodes" in err
        code, _, err = await obt(api, "bench", "run", "x", "--selector", "a in (")
        assert code == EXIT_USAGE and "--selector" in err
        code, _, err = await obt(api, "bench", "get", "ghost")
        assert code == EXIT_NOT_FOUND and "ghost" in err
        code, out, err = await obt(
            api, "bench", "run", "llama3.2", "--nodes", "ghost," + host, "--wait", "--timeout", "30"
        )
        assert code == EXIT_ERROR and "ghost / llama3.2:latest: Failed (NodeNotFound)" in err
