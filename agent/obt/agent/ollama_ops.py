"""Acting on the local Ollama: pull, delete, load and unload models (docs/agent.md, "Acting on
models").

- Pull: `POST /api/pull {"model"}` answers NDJSON lines, one object per line:
  `{"status":"pulling manifest"}`, then per layer `{"status":"pulling 3f1a2b…","digest":
  "sha256:…","total":N,"completed":M}`, `{"status":"verifying sha256 digest"}`,
  `{"status":"writing manifest"}`, `{"status":"success"}`; or `{"error":"…"}` at any point (an
  error before the stream starts comes as an HTTP error whose body carries "error" too).
  Progress is the sum over layers. One call is one attempt; the worker retries what
  `PullFailed.retryable` says may succeed later (Ollama keeps partial blobs, so a retry resumes).
- Disk: before a pull, and again as layer sizes arrive, the layers still to fetch are compared
  with the free space of the models directory less a margin; too little stops the pull with
  reason DiskFull before the disk fills.
- Delete: `DELETE /api/delete {"model"}`. Load: `POST /api/generate {"model","prompt":"",
  "keep_alive"}` (no prompt: load only); unload: the same with `keep_alive: 0`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from obt.core.model_names import normalize_model_name

# Error texts of Ollama (and of the registry it relays) that another try cannot fix.
_PERMANENT = re.compile(
    r"file does not exist|not found|manifest unknown|unauthorized|invalid model name|"
    r"invalid reference|denied|no space left on device|unsupported",
    re.IGNORECASE,
)
# Error lines that are about the network, or a download interrupted: worth another try.
_TRANSIENT = re.compile(
    r"connection reset|connection refused|timeout|timed out|EOF|max retries exceeded|"
    r"temporar|broken pipe|TLS handshake|no such host|network is unreachable|"
    r"digest mismatch|part \d+|context deadline exceeded|50[0234]",
    re.IGNORECASE,
)


class OpFailed(Exception):
    """A step's request failed. `reason` is one CamelCase word for Activity.reason."""

    def __init__(self, reason: str, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable


def classify_error(text: str) -> OpFailed:
    """An Ollama error text -> OpFailed with the right reason and retryability."""
    if "no space left on device" in text.lower():
        return OpFailed("DiskFull", text)
    if _PERMANENT.search(text):
        return OpFailed("OllamaError", text)
    return OpFailed("OllamaError", text, retryable=bool(_TRANSIENT.search(text)))


@dataclass
class PullProgress:
    """What a pull has done so far: the last status line and the bytes summed over layers."""

    status: str = ""
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)  # digest -> (done, total)
    success: bool = False

    @property
    def completed(self) -> int:
        return sum(done for done, _ in self.layers.values())

    @property
    def total(self) -> int:
        return sum(total for _, total in self.layers.values())

    @property
    def remaining(self) -> int:
        """Bytes of the layers seen so far that are not on disk yet (a resumed pull's partial
        blobs and layers shared with other models count as there)."""
        return sum(max(0, total - done) for done, total in self.layers.values())

    def feed(self, line: dict[str, Any]) -> None:
        """Take one NDJSON object of the pull stream (raises OpFailed on an error line)."""
        if "error" in line:
            raise classify_error(str(line["error"]))
        status = str(line.get("status") or "")
        self.status = status
        digest = line.get("digest")
        if isinstance(digest, str) and digest:
            total = _int(line.get("total"))
            done = _int(line.get("completed"))
            _, known_total = self.layers.get(digest, (0, 0))
            self.layers[digest] = (min(done, max(total, known_total)), max(total, known_total))
        if status == "success":
            self.success = True

    def message(self) -> str:
        if self.status.startswith("pulling ") and self.total:
            return f"{self.status} ({_size(self.completed)} of {_size(self.total)})"
        return self.status


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _size(value: int) -> str:
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1000:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} TB"


def parse_ndjson(buffer: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """Complete lines of `buffer` as objects, and the incomplete rest."""
    *lines, rest = buffer.split(b"\n")
    out = []
    for raw in lines:
        raw = raw.strip()
        if not raw:
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            raise OpFailed(
                "OllamaError", f"pull answered a line that is not JSON: {raw[:120]!r}", True
            ) from None
        if isinstance(obj, dict):
            out.append(obj)
    return out, rest


def models_dir(
    host_root: Path, setting: Path | None, environ: dict[str, str] | None = None
) -> Path:
    """Where Ollama keeps its models: the setting, else $OLLAMA_MODELS, else ~/.ollama/models
    (the Linux service's /usr/share/ollama/.ollama/models when that exists). Below `host_root`
    when it is not '/' (the DaemonSet sees the host under /host)."""
    env = os.environ if environ is None else environ
    if setting is not None:
        path = setting
    elif env.get("OLLAMA_MODELS"):
        path = Path(env["OLLAMA_MODELS"])
    else:
        service = Path("/usr/share/ollama/.ollama/models")
        # The agent's own home is the host's only on bare metal; in a container, root's.
        home = Path.home() if host_root == Path("/") else Path("/root")
        path = service if _under(host_root, service).exists() else home / ".ollama/models"
    return _under(host_root, path)


def _under(host_root: Path, path: Path) -> Path:
    if host_root == Path("/") or not path.is_absolute():
        return path
    return host_root / path.relative_to("/")


def free_bytes(path: Path, host_root: Path = Path("/")) -> int | None:
    """Free bytes of the file system holding `path` (its nearest existing parent, not above
    `host_root` unless that is '/': in the DaemonSet, /host itself is the container's file
    system, not the host's); None when none can be read (the check is then skipped)."""
    for candidate in (path, *path.parents):
        inside = candidate != host_root and candidate.is_relative_to(host_root)
        if host_root != Path("/") and not inside:
            break
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def _disk_full(need: int, free: int, margin: int, where: Path | str) -> OpFailed:
    return OpFailed(
        "DiskFull",
        f"not enough disk space for the pull: {_size(need)} to download, {_size(free)} free in "
        f"{where} (keeping {_size(margin)} free); free some space (the margin is OBT_AGENT__DISK_MARGIN_BYTES)",
    )


class OllamaOps:
    """The requests that change the local Ollama. One aiohttp session for the agent's life."""

    def __init__(
        self,
        base_url: str,
        models_path: Path | None = None,
        disk_margin: int = 1 << 30,
        host_root: Path = Path("/"),
        request_timeout: float = 30.0,
        free_space: Callable[[], int | None] | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.models_path = models_path
        self.disk_margin = disk_margin
        self.request_timeout = request_timeout
        if free_space is None and models_path is not None:
            path = models_path
            free_space = lambda: free_bytes(path, host_root)  # noqa: E731
        self.free_space = free_space
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No total timeout: a pull streams for as long as the download takes. A stalled
            # stream is caught by sock_read.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.request_timeout, sock_read=300
                )
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # Pull -------------------------------------------------------------------------------------

    def check_disk(self, need: int) -> None:
        """OpFailed(DiskFull) when `need` bytes (0: nothing known yet) do not fit."""
        if self.free_space is None:
            return
        free = self.free_space()
        if free is None:
            return
        where = self.models_path or "the models directory"
        if free < self.disk_margin or need > free - self.disk_margin:
            raise _disk_full(need, free, self.disk_margin, where)

    async def pull(self, model: str, progress: Callable[[PullProgress], None]) -> PullProgress:
        """One attempt at pulling `model`; `progress` sees every line. OpFailed when it fails
        (retryable for what another attempt may fix)."""
        self.check_disk(0)
        state = PullProgress()
        checked_total = 0
        try:
            async with self._client().post(
                self.base + "/api/pull", json={"model": model, "stream": True}
            ) as response:
                if response.status >= 400:
                    raise await _http_failure(response, "pull")
                buffer = b""
                async for chunk in response.content.iter_any():
                    lines, buffer = parse_ndjson(buffer + chunk)
                    for line in lines:
                        state.feed(line)
                        if state.total > checked_total:  # a new layer's size is known
                            checked_total = state.total
                            self.check_disk(state.remaining)
                        progress(state)
                lines, _ = parse_ndjson(buffer + b"\n")
                for line in lines:
                    state.feed(line)
                    progress(state)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OpFailed(
                "OllamaUnreachable" if not state.status else "PullInterrupted",
                f"pull of {model}: {_describe(exc)}",
                retryable=True,
            ) from exc
        if not state.success:
            raise OpFailed(
                "PullInterrupted",
                f"pull of {model}: the stream ended without success (last: {state.status!r})",
                retryable=True,
            )
        return state

    async def installed(self) -> dict[str, str | None]:
        """`GET /api/tags`: model name -> full digest."""
        data = await self._json("GET", "/api/tags", None, "list models")
        out: dict[str, str | None] = {}
        for entry in data.get("models") or []:
            name = normalize_model_name(str(entry.get("name") or entry.get("model") or ""))
            digest = entry.get("digest")
            out[name] = str(digest).removeprefix("sha256:") if digest else None
        return out

    # Delete, load, unload ---------------------------------------------------------------------

    async def delete(self, model: str) -> None:
        await self._json("DELETE", "/api/delete", {"model": model}, f"delete {model}")

    async def load(self, model: str, keep_alive: str | None) -> None:
        body: dict[str, Any] = {"model": model, "prompt": "", "stream": False}
        if keep_alive is not None:
            body["keep_alive"] = _keep_alive(keep_alive)
        await self._json("POST", "/api/generate", body, f"load {model}")

    async def unload(self, model: str) -> None:
        body = {"model": model, "prompt": "", "keep_alive": 0, "stream": False}
        await self._json("POST", "/api/generate", body, f"unload {model}")

    async def _json(self, method: str, path: str, body: Any, what: str) -> dict[str, Any]:
        try:
            async with self._client().request(
                method,
                self.base + path,
                json=body,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout * 10),
            ) as response:
                if response.status >= 400:
                    raise await _http_failure(response, what)
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OpFailed("OllamaUnreachable", f"{what}: {_describe(exc)}", True) from exc
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            return {}
        if isinstance(data, dict) and data.get("error"):
            raise classify_error(f"{what}: {data['error']}")
        return data if isinstance(data, dict) else {}


def _keep_alive(value: str) -> int | str:
    """Ollama takes a number of seconds as a number and a duration as a string."""
    try:
        return int(value)
    except ValueError:
        try:
            return int(float(value))
        except ValueError:
            return value


async def _http_failure(response: aiohttp.ClientResponse, what: str) -> OpFailed:
    text = await response.text()
    try:
        data = json.loads(text)
        message = str(data.get("error") or text) if isinstance(data, dict) else text
    except ValueError:
        message = text.strip()[:300] or response.reason or ""
    failure = classify_error(f"{what}: {message}")
    if response.status >= 500 and failure.reason == "OllamaError":
        # An error answer from the server itself (not the registry's "not found"): may pass.
        failure.retryable = failure.retryable or not _PERMANENT.search(message)
    if response.status == 404:
        failure.reason = "NotFound"
    return failure


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
