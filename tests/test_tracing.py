"""Tracing is safe by default: what leaves the process for a trace store carries no clear personal data.

Each test starts a local receiver (an OTLP/HTTP collector, or a LangSmith-shaped API), runs the real
`hitl` command against it with a support request that holds a card number and an email address, and
reads every byte that arrived. The marker word in the request is the control: it proves the
receiver does see the request's text, so the absence of the card and the address means they were
masked, not that nothing was sent.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

MARKER = "zanzibarquokka"
CARD = "4111 1111 1111 1111"
EMAIL = "eve.walker@example.org"
REQUEST = f"My blender {MARKER} arrived cracked, please refund my $45 to card {CARD} and email me at {EMAIL}"
CONTEXT = {
    "customer": {"id": "c-trace", "name": "Eve Walker"},
    "order": {"id": "o-7711", "amount": 45, "days_since_delivery": 3},
}
CLEAR_CARD = re.compile(rb"4111[\s-]?1111[\s-]?1111[\s-]?1111")
CLEAR_EMAIL = re.compile(re.escape(EMAIL.encode()), re.IGNORECASE)
TRACING_VARIABLES = ("OTEL_", "LANGSMITH_", "LANGCHAIN_", "HITL_TRACING")


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server that records every request and answers 200 with an empty JSON object."""

    url: str
    requests: list[Received] = field(default_factory=list)

    def bodies(self) -> bytes:
        """Every request body, decompressed, in one byte string (for searching)."""
        return b"\n".join(_decompressed(r) for r in self.requests)


def _decompressed(request: Received) -> bytes:
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        return gzip.decompress(request.body)
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(request.body)
    return request.body


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    requests: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            requests.append(Received(self.command, self.path, headers, body))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_PATCH = do_PUT = _record

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}", requests)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hitl(settings, runner):
    """The `hitl` command in a fresh process, with tracing variables only from the test."""

    def call(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(TRACING_VARIABLES)}
        return subprocess.run(
            [sys.executable, "-m", "hitl_cli.main", *args],
            env={**base, "HITL_DATABASE_URL": settings.database_url, **env},
            capture_output=True,
            text=True,
            timeout=240,
        )

    return call


def _run(hitl, thread: str, env: dict[str, str]) -> dict[str, Any]:
    proc = hitl(
        "run",
        "support",
        REQUEST,
        "--user",
        "eve",
        "--thread",
        thread,
        "--context",
        json.dumps(CONTEXT),
        "--json",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    assert result["status"] == "pending_review", result  # the card number is regulated data: a human looks
    return result


def _spans(receiver: Receiver) -> list[dict[str, Any]]:
    """The spans that arrived at the OTLP receiver: name and attributes (decoded from protobuf)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = []
    for request in receiver.requests:
        assert request.path == "/v1/traces", request.path
        message = ExportTraceServiceRequest()
        message.ParseFromString(_decompressed(request))
        for resource in message.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: _any_value(a.value) for a in span.attributes}
                    spans.append({"name": span.name, "attributes": attributes, "parent": span.parent_span_id})
    return spans


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def _assert_no_clear_personal_data(receiver: Receiver) -> None:
    everything = receiver.bodies()
    assert MARKER.encode() in everything, "control: the request's text must reach the receiver"
    assert not CLEAR_CARD.search(everything), "a clear card number left the process"
    assert not CLEAR_EMAIL.search(everything), "a clear email address left the process"
    assert b"[CARD ****1111]" in everything and b"[EMAIL]" in everything, "masked, not dropped"


def test_otlp_spans_cover_the_run_and_carry_no_clear_personal_data(hitl, receiver) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "hitl-test"}
    result = _run(hitl, "th-trace-otlp", env)
    [asked] = result["reviews"]
    question = hitl("decide", asked, "request-info", "--as", "sam", "--comment", "Which card?", "--json", env=env)
    assert question.returncode == 0, question.stderr
    replied = hitl("reply", "th-trace-otlp", f"The card {CARD}, write to {EMAIL}", "--json", env=env)
    assert replied.returncode == 0, replied.stderr
    [review_id] = json.loads(replied.stdout)["reviews"]
    decided = hitl("decide", review_id, "approve", "--as", "sam", "--json", env=env)
    assert decided.returncode == 0, decided.stderr
    swept = hitl("sweep", "--json", env=env)
    assert swept.returncode == 0, swept.stderr

    spans = _spans(receiver)
    names = [s["name"] for s in spans]
    for expected in (
        "hitl.run",
        "hitl.node",
        "hitl.model",
        "hitl.review",
        "hitl.decide",
        "hitl.reply",
        "hitl.execute",
        "hitl.sweep",
    ):
        assert expected in names, (expected, sorted(set(names)))
    by_name = {s["name"]: s["attributes"] for s in spans}  # the last span of each name
    assert by_name["hitl.run"]["hitl.thread_id"] == "th-trace-otlp"
    assert by_name["hitl.run"]["hitl.agent"] == "support"
    assert by_name["hitl.review"]["hitl.review_id"] == review_id
    assert by_name["hitl.review"]["hitl.thread_id"] == "th-trace-otlp"
    assert by_name["hitl.decide"]["hitl.review_id"] == review_id
    assert by_name["hitl.execute"]["hitl.review_id"] == review_id
    assert by_name["hitl.execute"]["hitl.action"] == result["action"]["name"]
    nodes = {s["attributes"].get("hitl.node") for s in spans if s["name"] == "hitl.node"}
    assert {"screen_input", "propose", "assess", "approval_gate"} <= nodes
    assert all(s["attributes"].get("hitl.thread_id") == "th-trace-otlp" for s in spans if s["name"] == "hitl.node")
    assert "[CARD ****1111]" in by_name["hitl.run"]["hitl.request"]
    assert by_name["hitl.reply"]["hitl.thread_id"] == "th-trace-otlp"
    assert "[EMAIL]" in by_name["hitl.reply"]["hitl.request"]
    _assert_no_clear_personal_data(receiver)


def test_no_spans_leave_without_configuration(hitl, receiver) -> None:
    """Off unless configured: a run with no tracing variables sends nothing anywhere."""
    _run(hitl, "th-trace-off", {"HITL_TRACING": "off", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url})
    _run(hitl, "th-trace-none", {})
    assert receiver.requests == []


@pytest.mark.parametrize(("prefix", "switch"), [("LANGSMITH", "TRACING"), ("LANGCHAIN", "TRACING_V2")])
def test_langsmith_runs_carry_no_clear_personal_data(hitl, receiver, prefix: str, switch: str) -> None:
    env = {
        f"{prefix}_{switch}": "true",
        f"{prefix}_ENDPOINT": receiver.url,
        f"{prefix}_API_KEY": "lsv2-test-key",
        f"{prefix}_PROJECT": "hitl-test",
    }
    _run(hitl, f"th-trace-{prefix.lower()}", env)
    runs = [r for r in receiver.requests if r.method in ("POST", "PATCH") and r.path.startswith("/runs")]
    assert runs, [(r.method, r.path) for r in receiver.requests]
    _assert_no_clear_personal_data(receiver)


def test_exceptions_and_events_are_masked_on_the_way_out(monkeypatch) -> None:
    """Text the span helper never saw (an exception's message and traceback, an event) is masked at export."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from guardrails.input_checks import redact_for_log
    from hitl_core import tracing

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing.MaskingExporter(memory)))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    monkeypatch.setattr(tracing, "_mask_text", redact_for_log)

    with pytest.raises(ValueError), tracing.span("hitl.test", thread_id="th-1", request=f"{MARKER} {EMAIL}") as current:
        current.add_event(f"note {CARD}", {"detail": [f"to {EMAIL}"]})
        raise ValueError(f"bad card {CARD}")

    [span] = memory.get_finished_spans()
    text = repr((span.name, dict(span.attributes), [(e.name, dict(e.attributes)) for e in span.events], span.status))
    assert MARKER in text and "th-1" in text and "ValueError" in text
    assert "4111 1111" not in text and EMAIL not in text, text
    assert "[CARD ****1111]" in text and "[EMAIL]" in text


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "otlp_proto_http"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, None),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, None),
        ({"HITL_TRACING": "off", "OTEL_TRACES_EXPORTER": "otlp"}, None),
        ({"HITL_TRACING": "console"}, "console"),
        ({"HITL_TRACING": "otlp", "OTEL_SDK_DISABLED": "true"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "zipkin_json"}, None),
    ],
)
def test_spans_are_off_unless_configured(monkeypatch, variables: dict[str, str], expected: str | None) -> None:
    from hitl_core.settings import Settings
    from hitl_core.tracing import exporter_choice

    for name in list(os.environ):
        if name.startswith(TRACING_VARIABLES):
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert exporter_choice(Settings()) == expected


def test_a_bad_tracing_setting_is_one_clear_error_and_writes_nothing(hitl, runner) -> None:
    proc = hitl("run", "support", REQUEST, "--user", "eve", "--thread", "th-trace-bad", env={"HITL_TRACING": "jaeger"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert "HITL_TRACING" in line and "otlp, console, off" in line
    assert runner.db.read("SELECT thread_id FROM threads WHERE thread_id = 'th-trace-bad'") == []
