"""The dashboard's static build, with a single-page-app fallback that never covers /api/*."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

PACKAGE_STATIC = Path(__file__).resolve().parent / "static"
REPO_BUILD = Path(__file__).resolve().parents[3] / "frontend" / "build"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OBT</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>OBT is running</h1>
<p>The API answers at <a href="/api/v1/nodes">/api/v1/nodes</a>
(<a href="/docs">API docs</a>), but the dashboard is not built.</p>
<p>Build it from a clone with <code>make frontend-build</code> (or
<code>cd frontend &amp;&amp; pnpm install &amp;&amp; pnpm run build</code>) and restart
<code>obt serve</code>.</p>
</body></html>
"""

_RESERVED = ("api/", "healthz", "readyz", "metrics", "docs", "redoc", "openapi.json")


def find_dashboard() -> Path | None:
    for candidate in (PACKAGE_STATIC, REPO_BUILD):
        if (candidate / "index.html").is_file():
            return candidate
    return None


def mount_dashboard(app: FastAPI, root: Path | None) -> None:
    root = root.resolve() if root else None

    @app.get("/{path:path}", include_in_schema=False)
    async def dashboard(path: str, request: Request) -> Response:
        if path.startswith(_RESERVED):
            raise HTTPException(404, f"no such endpoint: /{path}")
        if root is None:
            return HTMLResponse(NOT_BUILT)
        target = (root / path).resolve()
        if path and target.is_relative_to(root) and target.is_file():
            return FileResponse(target)
        # Client-side routes (/nodes/x) get the app shell; missing assets get a 404.
        if "." in path.rsplit("/", 1)[-1] and not path.endswith(".html"):
            raise HTTPException(404, f"no such file: /{path}")
        return FileResponse(root / "index.html", headers={"Cache-Control": "no-cache"})
