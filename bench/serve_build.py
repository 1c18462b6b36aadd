"""`obt serve` with the dashboard from another build folder (bench/dashboard.mjs --baseline).

    .venv/bin/python bench/serve_build.py BUILD_DIR serve --demo --port 8000 ...

The same API code as `obt`, only the static files differ, so a benchmark can load two builds of
the dashboard side by side against the same server code and the same seeded data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import obt.api.static as static
from obt.cli.main import main

if __name__ == "__main__":
    if len(sys.argv) < 2 or not (Path(sys.argv[1]) / "index.html").is_file():
        sys.exit("usage: serve_build.py BUILD_DIR ARGS... (BUILD_DIR must hold index.html)")
    build = Path(sys.argv[1]).resolve()
    static.find_dashboard = lambda: build
    sys.argv = ["obt", *sys.argv[2:]]
    main()
