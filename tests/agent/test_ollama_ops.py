"""obt.agent.ollama_ops against the fake Ollama (tests/agent/fake_ollama.py), which streams pull
progress as Ollama does: parsing, error classification, resume after a dropped connection, the
disk check, delete/load/unload."""

from __future__ import annotations

import pytest

from obt.agent.ollama_ops import (
    OllamaOps,
    OpFailed,
    PullProgress,
    classify_error,
    models_dir,
    parse_ndjson,
)
from tests.agent.fake_ollama import LLAMA

GB = 1_000_000_000

# A real `ollama pull` stream (llama3.2, Ollama 0.5): one line per object.
REAL = b"""{"status":"pulling manifest"}
{"status":"pulling dde5aa3fc5ff","digest":"sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff","total":2019377376,"completed":0}
{"status":"pulling dde5aa3fc5ff","digest":"sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff","total":2019377376,"completed":1009688688}
{"status":"pulling 966de95ca8a6","digest":"sha256:966de95ca8a62200913e3f8bfbf84c8494536f1b94b49166851e76644e966396","total":1429,"completed":1429}
{"status":"pulling dde5aa3fc5ff","digest":"sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff","total":2019377376,"completed":2019377376}
{"status":"verifying sha256 digest"}
{"status":"writing manifest"}
{"status":"success"}
"""


def test_parses_a_real_stream_summing_layers() -> None:
    lines, rest = parse_ndjson(REAL[:-30])  # a line cut in two stays in the buffer
    assert rest and all(isinstance(line, dict) for line in lines)
    lines, rest = parse_ndjson(REAL)
    assert rest == b""
    state = PullProgress()
    seen = []
    for line in lines[:3]:
        state.feed(line)
        seen.append((state.completed, state.total))
    assert seen == [(0, 0), (0, 2019377376), (1009688688, 2019377376)]
    assert state.message().startswith("pulling dde5aa3fc5ff (1.0 GB of 2.0 GB")
    for line in lines[3:]:
        state.feed(line)
    assert state.success and state.completed == state.total == 2019377376 + 1429
    assert state.remaining == 0


def test_error_lines_are_classified() -> None:
    state = PullProgress()
    with pytest.raises(OpFailed) as error:
        state.feed({"error": "pull model manifest: file does not exist"})
    assert error.value.reason == "OllamaError" and not error.value.retryable
    assert error.value.message == "pull model manifest: file does not exist"
    assert not classify_error("pull model manifest: 404 not found").retryable
    assert classify_error("max retries exceeded: read tcp: connection reset by peer").retryable
    assert classify_error("digest mismatch, file must be downloaded again").retryable
    full = classify_error("write /root/.ollama/models/blobs/x: no space left on device")
    assert full.reason == "DiskFull" and not full.retryable
    with pytest.raises(OpFailed, match="not JSON"):
        parse_ndjson(b"<html>proxy error</html>\n")


def test_models_dir_follows_setting_env_and_host_root(tmp_path) -> None:
    assert models_dir(tmp_path, None, {"OLLAMA_MODELS": "/data/models"}) == tmp_path / "data/models"
    assert models_dir(tmp_path, tmp_path / "x", {}) == tmp_path / tmp_path.relative_to("/") / "x"
    from pathlib import Path

    assert models_dir(Path("/"), Path("/srv/m"), {}) == Path("/srv/m")
    assert str(models_dir(Path("/"), None, {})).endswith(".ollama/models")


async def test_pull_streams_progress_and_installs(ollama) -> None:
    ollama.publish("llama3.2", 2 * GB)
    ops = OllamaOps(ollama.url)
    seen: list[tuple[str, int, int]] = []
    try:
        state = await ops.pull("llama3.2", lambda s: seen.append((s.status, s.completed, s.total)))
        assert state.success
        statuses = [s for s, _, _ in seen]
        assert statuses[0] == "pulling manifest"
        assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
        assert any(s.startswith("pulling ") and t > 0 for s, _, t in seen[1:])
        assert seen[-1][1] == seen[-1][2] == 2 * GB
        installed = await ops.installed()
        assert installed["llama3.2:latest"] == ollama.registry["llama3.2:latest"].digest
        assert installed["llama3.1:8b"] == LLAMA["digest"]
    finally:
        await ops.close()


async def test_dropped_connection_is_retryable_and_the_retry_resumes(ollama) -> None:
    ollama.publish("llama3.2", 2 * GB)
    ollama.fail_next("llama3.2", "drop")
    ops = OllamaOps(ollama.url)
    try:
        with pytest.raises(OpFailed) as error:
            await ops.pull("llama3.2", lambda s: None)
        assert error.value.retryable and error.value.reason == "PullInterrupted"
        firsts: list[int] = []

        def first_weights_line(state: PullProgress) -> None:
            if state.layers and not firsts:
                firsts.append(next(iter(state.layers.values()))[0])

        await ops.pull("llama3.2", first_weights_line)
        assert firsts and firsts[0] >= GB * 0.9  # it started where the dropped one stopped
    finally:
        await ops.close()


async def test_http_500_is_retryable_and_unknown_model_is_not(ollama) -> None:
    ollama.publish("llama3.2", GB)
    ollama.fail_next("llama3.2", "http500")
    ops = OllamaOps(ollama.url)
    try:
        with pytest.raises(OpFailed) as error:
            await ops.pull("llama3.2", lambda s: None)
        assert error.value.retryable
        with pytest.raises(OpFailed) as error:
            await ops.pull("no-such-model", lambda s: None)
        assert not error.value.retryable
        assert error.value.message == "pull model manifest: file does not exist"
    finally:
        await ops.close()


async def test_disk_check_refuses_before_and_during_the_pull(ollama) -> None:
    ollama.publish("big", 40 * GB)
    free = {"bytes": 500_000_000}
    ops = OllamaOps(ollama.url, disk_margin=GB, free_space=lambda: free["bytes"])
    try:
        with pytest.raises(OpFailed) as error:  # less than the margin: no request at all
            await ops.pull("big", lambda s: None)
        assert error.value.reason == "DiskFull" and not ollama.calls("POST", "/api/pull")
        free["bytes"] = 10 * GB  # room, but not for 40 GB: stopped when the sizes arrive
        ollama.hold("big")  # (a 40 GB pull takes a while; the fake's is instant otherwise)
        with pytest.raises(OpFailed) as error:
            await ops.pull("big", lambda s: None)
        assert error.value.reason == "DiskFull"
        assert (
            "40.0 GB to download" in error.value.message and "10.0 GB free" in error.value.message
        )
        assert "big:latest" not in ollama.installed()
        ollama.release("big")
    finally:
        await ops.close()


async def test_delete_load_unload(ollama) -> None:
    ops = OllamaOps(ollama.url)
    try:
        await ops.load("llama3.1:8b", "-1")
        assert [m["name"] for m in ollama.loaded] == ["llama3.1:8b"]
        assert ollama.calls("POST", "/api/generate")[-1].body == {
            "model": "llama3.1:8b",
            "prompt": "",
            "stream": False,
            "keep_alive": -1,
        }
        await ops.unload("llama3.1:8b")
        assert ollama.loaded == []
        await ops.delete("llama3.1:8b")
        assert ollama.installed() == {}
        with pytest.raises(OpFailed) as error:
            await ops.delete("llama3.1:8b")
        assert error.value.reason == "NotFound"
        with pytest.raises(OpFailed, match="not found, try pulling it first"):
            await ops.load("llama3.1:8b", None)
    finally:
        await ops.close()


def test_free_bytes_stays_below_the_host_root(tmp_path) -> None:
    from obt.agent.ollama_ops import free_bytes

    host = tmp_path / "host"
    (host / "root").mkdir(parents=True)
    # Bare metal: a models directory not made yet is on its nearest parent's file system.
    assert free_bytes(tmp_path / "nope" / ".ollama" / "models") is not None
    # DaemonSet: below /host only (/host itself is the container's file system).
    assert free_bytes(host / "root" / ".ollama" / "models", host) is not None
    assert free_bytes(host / "usr" / "share" / "ollama", host) is None
    assert str(models_dir(host, None, {})) == str(host / "root/.ollama/models")


async def test_fake_ollama_runs_as_its_own_process() -> None:
    import asyncio
    import sys

    from tests.support.fixtures import REPO

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.agent.fake_ollama",
        "--no-models",
        "--publish",
        "tiny=1000000",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        ops = OllamaOps(url)
        try:
            assert await ops.installed() == {}
            state = await ops.pull("tiny", lambda s: None)
            assert state.success and state.total == 1_000_000
            assert list(await ops.installed()) == ["tiny:latest"]
        finally:
            await ops.close()
    finally:
        proc.terminate()
        await proc.wait()
