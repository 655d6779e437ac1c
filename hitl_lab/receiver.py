"""A local webhook receiver for trying notifications: `hitl notifications receive`.

A team wiring up Slack or its own service first wants to see what the project sends and that the
signatures check out. This server listens on the loopback address, verifies each signed webhook
with `HITL_WEBHOOK_SECRET` exactly as a real receiver should (`notifications.verify_signature`),
answers 200 to a valid one and 401 to anything else, and prints one line per request. The demo
points `HITL_NOTIFY_URLS` at it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hitl_runtime import notifications

MAX_BODY = 1_000_000
"""Bytes read from one request at most; a longer one is refused (413) unread."""


def summary(document: dict[str, Any]) -> str:
    """One line a person reads: the event, the review, who it is for, and the link."""
    data = document.get("data") or {}
    parts = [str(document.get("event", "?")), str(document.get("review_id") or document.get("thread_id") or "")]
    if data.get("roles"):
        parts.append("for " + ", ".join(map(str, data["roles"])))
    if document.get("link"):
        parts.append(str(document["link"]))
    return " ".join(p for p in parts if p)


def make_server(
    secret: str | None, port: int, host: str = "127.0.0.1", *, emit: Callable[[dict[str, Any]], None]
) -> ThreadingHTTPServer:
    """The server (not started): each request is checked and handed to `emit` as a dict."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, {"path": self.path, "verified": False, "error": "body too large"})
                return
            body = self.rfile.read(length)
            stamp = str(self.headers.get(notifications.TIMESTAMP_HEADER) or "")
            signature = str(self.headers.get(notifications.SIGNATURE_HEADER) or "")
            verified = bool(secret) and notifications.verify_signature(str(secret), stamp, body, signature)
            seen: dict[str, Any] = {
                "path": self.path,
                "event": self.headers.get(notifications.EVENT_HEADER),
                "idempotency_key": self.headers.get(notifications.KEY_HEADER),
                "verified": verified,
            }
            try:
                document = json.loads(body)
                seen["summary"] = summary(document) if isinstance(document, dict) else ""
            except ValueError:
                seen["error"] = "the body is not JSON"
            if not secret:
                seen["error"] = "no HITL_WEBHOOK_SECRET here: nothing can be verified"
            self._answer(200 if verified else 401, seen)

        def _answer(self, status: int, seen: dict[str, Any]) -> None:
            emit({**seen, "status": status})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass  # one line per request comes from `emit`

    return ThreadingHTTPServer((host, port), Handler)


def printer(as_json: bool) -> Callable[[dict[str, Any]], None]:
    """Print each request as one JSON document or one readable line, flushed at once."""

    def emit(seen: dict[str, Any]) -> None:
        if as_json:
            line = json.dumps(seen, sort_keys=True)
        else:
            mark = "ok " if seen["verified"] else "BAD"
            line = f"{mark} {seen.get('summary') or seen.get('error') or seen['path']}"
        print(line, flush=True, file=sys.stdout)

    return emit
