"""`hitl serve`: the API on uvicorn, with access logs that never show a card number or a secret."""

from __future__ import annotations

import logging

import uvicorn

from hitl_api.app import create_app
from hitl_core.masking import mask_value
from hitl_core.settings import Settings


class MaskingFilter(logging.Filter):
    """Mask every argument of a log record (the access log's path and query, an error's text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; mask what it carries."""
        if isinstance(record.args, tuple):
            record.args = tuple(mask_value(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = mask_value(record.msg)
        return True


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve the API until interrupted (loopback by default: `HITL_API_HOST`, `HITL_API_PORT`)."""
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=host or settings.api_host, port=port or settings.api_port, log_level="info", server_header=False
    )
    for name in ("uvicorn.access", "uvicorn.error", "hitl_api"):
        logging.getLogger(name).addFilter(MaskingFilter())
    uvicorn.Server(config).run()
