"""JSON bodies exactly as the CLI's `--json` prints them (values it cannot encode become strings)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import Response


def as_json(value: Any, status_code: int = 200, *, headers: dict[str, str] | None = None) -> Response:
    """The CLI's JSON document for `value`, as an HTTP response."""
    return Response(
        json.dumps(value, default=str, ensure_ascii=False),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )
