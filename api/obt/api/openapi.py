"""`python -m obt.api.openapi`: print the OpenAPI document (deterministic JSON).

The dashboard's TypeScript client is generated from it; frontend/openapi.json is its committed copy.
"""

from __future__ import annotations

import json
from typing import Any

from obt.api.settings import ApiSettings


def document() -> dict[str, Any]:
    from obt.api.app import create_app

    # Demo mode: the document describes every endpoint, the seed one included (it says when
    # it is mounted).
    settings = ApiSettings(_env_file=None, api={"demo": True})
    app = create_app(settings)
    return app.openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
