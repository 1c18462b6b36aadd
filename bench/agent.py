"""Agent benchmark: RSS, CPU per detection cycle, and API-server writes per node-minute, idle
and with a model loaded/unloaded every minute (docs/performance.md, "Agent").

Runs the real `obt agent` in Kubernetes mode as a subprocess against the API test server
(tests/support) and a fake Ollama, both in this process on 127.0.0.1. Time is compressed: the
agent detects every 0.5 s, and one "minute" is 4 cycles (the default interval is 15 s).

    .venv/bin/python bench/agent.py [--cycles 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from record import write_result  # noqa: E402
from tests.agent.fake_ollama import QWEN, FakeOllama  # noqa: E402
from tests.support.fixtures import OLLAMANODE_CRD, ServerThread  # noqa: E402
from tests.support.kube_api_server import KubeApiServer  # noqa: E402

INTERVAL = 0.5
CYCLES_PER_MINUTE = 4  # 60 s / the default 15 s interval
NODE = "bench-node"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def metric(port: int, name: str) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
    body = (await reader.read()).decode()
    writer.close()
    match = re.search(rf"^{name} (\S+)$", body, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def wait_cycles(port: int, target: float, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await metric(port, "obt_agent_detection_cycles_total") >= target:
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise TimeoutError("the agent stopped cycling")
        await asyncio.sleep(0.1)


def writes(server: KubeApiServer) -> int:
    return len(server.writes(user_agent_contains="obt-agent", resource="ollamanodes"))


async def main(cycles: int) -> None:
    thread = ServerThread(KubeApiServer())
    server = thread.start()
    kubeconfig = Path(tempfile.mkdtemp()) / "kubeconfig"
    server.write_kubeconfig(kubeconfig)
    server.load_crds([OLLAMANODE_CRD])
    server.set_node_ready(NODE)
    ollama = await FakeOllama().start()
    port = free_port()
    env = {**os.environ, "OBT_NODE_NAME": NODE, "OBT_LOG__LEVEL": "WARNING"}
    agent = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [
            str(Path(sys.executable).parent / "obt"),
            "agent",
            "--kubernetes",
            "--kubeconfig",
            str(kubeconfig),
            "--ollama-url",
            ollama.url,
            "--interval",
            str(INTERVAL),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        env=env,
    )
    try:
        await asyncio.sleep(1.0)
        await wait_cycles(port, 2)
        start_writes = writes(server)
        base_cycles = await metric(port, "obt_agent_detection_cycles_total")
        cpu0 = cpu_seconds(agent.pid)
        await wait_cycles(port, base_cycles + cycles)
        idle_cycles = await metric(port, "obt_agent_detection_cycles_total") - base_cycles
        cpu_per_cycle = (cpu_seconds(agent.pid) - cpu0) / idle_cycles
        idle_writes = writes(server) - start_writes
        rss_idle = rss_mib(agent.pid)

        # A model loaded at the start of each "minute" and unloaded at its middle.
        start_writes = writes(server)
        base = await metric(port, "obt_agent_detection_cycles_total")
        minutes = max(1, cycles // CYCLES_PER_MINUTE)
        for minute in range(minutes):
            ollama.load(QWEN)
            await wait_cycles(port, base + minute * CYCLES_PER_MINUTE + CYCLES_PER_MINUTE / 2)
            ollama.unload()
            await wait_cycles(port, base + (minute + 1) * CYCLES_PER_MINUTE)
        busy_writes = writes(server) - start_writes
        rss_busy = rss_mib(agent.pid)
    finally:
        agent.terminate()
        agent.wait(10)
        await ollama.stop()
        thread.stop()
    idle_minutes = idle_cycles / CYCLES_PER_MINUTE
    print(
        f"agent RSS (idle / after load-unload): {rss_idle:.1f} MiB / {rss_busy:.1f} MiB  (target <= 60 MiB)"
    )
    print(
        f"agent CPU per detection cycle: {cpu_per_cycle * 1000:.1f} ms (this machine's /proc, fake Ollama on 127.0.0.1)"
    )
    print(
        f"API-server writes per node-minute, idle: {idle_writes / idle_minutes:.2f} ({idle_writes} in {idle_minutes:.0f} simulated min; target 0)"
    )
    print(
        f"API-server writes per node-minute, model loaded+unloaded every minute: {busy_writes / minutes:.2f} ({busy_writes} in {minutes} simulated min; expected 2)"
    )
    write_result(
        "agent",
        {"cycles": cycles, "intervalSeconds": INTERVAL, "cyclesPerMinute": CYCLES_PER_MINUTE},
        {
            "rssIdleMiB": round(rss_idle, 1),
            "rssAfterLoadUnloadMiB": round(rss_busy, 1),
            "cpuPerCycleMs": round(cpu_per_cycle * 1000, 2),
            "writesPerNodeMinuteIdle": round(idle_writes / idle_minutes, 2),
            "writesPerNodeMinuteLoadUnload": round(busy_writes / minutes, 2),
            "simulatedMinutesIdle": idle_minutes,
            "simulatedMinutesLoadUnload": minutes,
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cycles", type=int, default=40, help="idle cycles to measure (4 = 1 simulated minute)"
    )
    asyncio.run(main(parser.parse_args().cycles))
