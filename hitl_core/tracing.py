"""Tracing that is safe by default: OpenTelemetry spans and LangSmith runs, both masked.

Requests carry card numbers, addresses and health details; a trace store is a log that leaves the
process. So nothing reaches one in the clear: every OpenTelemetry span passes through
`MaskingExporter` (its name, attributes, events, links and status text, exceptions included)
and LangSmith's client gets `mask` as its `anonymizer` (inputs, outputs, metadata and errors of
every run), both with the guardrails' own redaction (`guardrails.input_checks.redact_for_log`,
handed in by the runner: the core does not import the guardrails above it).

OpenTelemetry is off unless configured: `HITL_TRACING=otlp|console`, or the standard
`OTEL_TRACES_EXPORTER` / `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` variables (`HITL_TRACING=off` or
`OTEL_SDK_DISABLED=true` keep it off). LangSmith traces when its own variables say so
(`LANGSMITH_TRACING=true`); this module only makes sure its runs go through the masking client.

Call sites stay one line: `@traced("hitl.run")` on a function, `annotate(thread_id=...)` once a value
is known, `mark("hitl.review", ...)` for an instant, `run_config()` for a graph run's callbacks.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import Attributes

from hitl_core.errors import BadInput
from hitl_core.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
PREFIX = "hitl."
EXPORTERS = ("otlp", "console")
_OTEL_EXPORTER_NAMES = {"otlp": "otlp", "otlp_proto_http": "otlp", "console": "console"}
_ARGUMENTS = {
    "agent": "agent",
    "thread_id": "thread_id",
    "review_id": "review_id",
    "action": "action",
    "decision": "decision",
    "reviewer": "reviewer",
    "message": "request",
}
"""Parameters of a `@traced` function that become span attributes, and their names."""
_INHERITED = ("agent", "thread_id")
"""Attributes that spans opened inside a run (its graph's nodes and model calls) repeat."""

_lock = threading.Lock()
_tracer: trace.Tracer = trace.NoOpTracer()
_handler: _GraphSpans | None = None
_langsmith_client: Any = None
_mask_text: Callable[[str], str] | None = None
_configured = False
_inherited: ContextVar[dict[str, Any]] = ContextVar("hitl_trace_inherited", default={})  # noqa: B039 (never mutated)


# -- masking --------------------------------------------------------------------------------------
def mask(value: Any) -> Any:
    """The value with every string in it (keys too) masked as for a log; other values unchanged."""
    if isinstance(value, str):
        if _mask_text is None:
            raise RuntimeError("tracing.configure() names the masking before anything is traced")
        return _mask_text(value)
    if isinstance(value, dict):
        return {mask(k) if isinstance(k, str) else k: mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask(v) for v in value)
    return value


def _masked_attributes(attributes: Attributes) -> Attributes:
    return {k: mask(v) for k, v in attributes.items()} if attributes else attributes


def _masked_span(span: ReadableSpan) -> ReadableSpan:
    return ReadableSpan(
        name=mask(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_masked_attributes(span.attributes),
        events=[Event(mask(e.name), _masked_attributes(e.attributes), e.timestamp) for e in span.events],
        links=[Link(link.context, _masked_attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=Status(span.status.status_code, mask(span.status.description)),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class MaskingExporter(SpanExporter):
    """Masks every text of a span before handing it to the real exporter: the one way out."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export the masked copies."""
        return self.inner.export([_masked_span(s) for s in spans])

    def shutdown(self) -> None:
        """Shut the real exporter down."""
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the real exporter."""
        return self.inner.force_flush(timeout_millis)


# -- configuration --------------------------------------------------------------------------------
def exporter_choice(settings: Settings) -> str | None:
    """`otlp`, `console` or None (off), from `HITL_TRACING` first, then the standard OTEL variables."""
    choice = settings.tracing.strip().lower()
    if choice in ("off", "none", "false", "0"):
        return None
    if choice in EXPORTERS:
        return choice
    if choice not in ("", "auto"):
        raise BadInput(f"HITL_TRACING={settings.tracing!r} is not one of otlp, console, off")
    if settings.otel_sdk_disabled:
        return None
    named = [n.strip().lower() for n in settings.otel_traces_exporter.split(",") if n.strip()]
    if "none" in named:
        return None
    if named:
        known = [_OTEL_EXPORTER_NAMES[n] for n in named if n in _OTEL_EXPORTER_NAMES]
        if not known:
            print(
                f"hitl: tracing: OTEL_TRACES_EXPORTER={settings.otel_traces_exporter!r} has no exporter hitl ships "
                "(otlp over HTTP, console); tracing is off",
                file=sys.stderr,
            )
            return None
        return known[0]
    return "otlp" if settings.otel_endpoint else None


def configure(settings: Settings, mask_text: Callable[[str], str]) -> None:
    """Set tracing up once per process (later calls change nothing): spans if configured, LangSmith masked.

    `mask_text` is the masking every traced text goes through (the guardrails' `redact_for_log`).
    """
    global _tracer, _handler, _configured, _mask_text
    with _lock:
        if _configured:
            return
        choice = exporter_choice(settings)
        _mask_text = mask_text
        _configured = True
    if choice is not None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        resource = Resource.create({})
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "hitl-agents"}))
        exporter: SpanExporter
        if choice == "console":
            exporter = ConsoleSpanExporter(out=sys.stderr)  # stdout is the commands' JSON
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint, headers, compression: the OTEL_EXPORTER_OTLP_* variables
        provider = TracerProvider(resource=resource)  # flushed and shut down at exit
        provider.add_span_processor(BatchSpanProcessor(MaskingExporter(exporter)))
        _tracer = provider.get_tracer("hitl_runtime")
        _handler = _GraphSpans()
    if _langsmith_enabled():
        langsmith_client()


def _langsmith_enabled() -> bool:
    from langsmith.utils import tracing_is_enabled

    return bool(tracing_is_enabled())


def langsmith_client() -> Any:
    """The process's LangSmith client, masking every run (created on first use, made the global one)."""
    global _langsmith_client
    with _lock:
        if _langsmith_client is None:
            import langsmith

            _langsmith_client = langsmith.Client(anonymizer=mask)
            langsmith.configure(client=_langsmith_client)  # tracers made elsewhere use it too
        return _langsmith_client


def run_config() -> dict[str, Any]:
    """Callbacks for a graph run: node and model spans, and LangSmith's tracer on the masking client."""
    callbacks: list[BaseCallbackHandler] = [_handler] if _handler is not None else []
    if _langsmith_enabled():
        from langchain_core.tracers.langchain import LangChainTracer

        callbacks.append(LangChainTracer(client=langsmith_client()))
    return {"callbacks": callbacks} if callbacks else {}


# -- spans ----------------------------------------------------------------------------------------
def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    """`hitl.`-prefixed span attributes; None is left out, structures become JSON text."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if not isinstance(value, str | bool | int | float):
            value = json.dumps(value, default=str, ensure_ascii=False)
        out[PREFIX + key] = value
    return out


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span around a block, current for everything inside it (exceptions are recorded, masked)."""
    merged = _inherited.get() | {k: v for k, v in attributes.items() if k in _INHERITED and v is not None}
    token = _inherited.set(merged)
    try:
        with _tracer.start_as_current_span(name, attributes=_attributes(merged | attributes)) as current:
            yield current
    finally:
        _inherited.reset(token)


def traced(name: str) -> Callable[[F], F]:
    """Decorate a function so each call is a span; its known parameters (`_ARGUMENTS`) become attributes."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if isinstance(_tracer, trace.NoOpTracer):
                return fn(*args, **kwargs)
            bound = signature.bind_partial(*args, **kwargs).arguments
            attributes = {label: bound.get(param) for param, label in _ARGUMENTS.items() if param in bound}
            with span(name, **attributes):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def annotate(**attributes: Any) -> None:
    """Add attributes to the current span once they are known (a new thread's id, a review's agent)."""
    current = trace.get_current_span()
    if not current.is_recording():
        return
    current.set_attributes(_attributes(attributes))
    _inherited.set(_inherited.get() | {k: v for k, v in attributes.items() if k in _INHERITED and v is not None})


def mark(name: str, **attributes: Any) -> None:
    """An instant span (a review created): starts and ends here, inside the current span."""
    with span(name, **attributes):
        pass


class _GraphSpans(BaseCallbackHandler):
    """LangChain callbacks that open a span per graph node and per model call.

    Callbacks arrive on LangGraph's worker threads, so parents are found by run id, not by the
    thread's current span: a node's parent is the run's span (current when the graph started), a
    model call's is its node's span.
    """

    raise_error = False  # tracing never breaks a run

    def __init__(self) -> None:
        self._spans: dict[UUID, trace.Span] = {}
        self._parents: dict[UUID, tuple[otel_context.Context, dict[str, Any]]] = {}

    def _parent(self, parent_run_id: UUID | None) -> tuple[otel_context.Context, dict[str, Any]]:
        if parent_run_id is not None and parent_run_id in self._parents:
            return self._parents[parent_run_id]
        return otel_context.get_current(), _inherited.get()

    def _start(self, run_id: UUID, parent_run_id: UUID | None, name: str, attributes: dict[str, Any]) -> None:
        parent, inherited = self._parent(parent_run_id)
        opened = _tracer.start_span(name, context=parent, attributes=_attributes(inherited | attributes))
        self._spans[run_id] = opened
        self._parents[run_id] = (trace.set_span_in_context(opened, parent), inherited)

    def _end(self, run_id: UUID, error: BaseException | None = None) -> None:
        self._parents.pop(run_id, None)
        opened = self._spans.pop(run_id, None)
        if opened is None:
            return
        if error is not None:
            from langgraph.errors import GraphBubbleUp

            if isinstance(error, GraphBubbleUp):  # an interrupt: the thread pauses for a person
                opened.set_attribute(PREFIX + "paused", True)
            else:
                opened.record_exception(error)
                opened.set_status(Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        opened.end()

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A node of the graph opens a span; other chains (the graph itself, edges) only pass their parent on."""
        metadata = metadata or {}
        node = metadata.get("langgraph_node")
        if node is not None and node == kwargs.get("name"):
            step = metadata.get("langgraph_step")
            self._start(
                run_id, parent_run_id, "hitl.node", {"node": node, "step": step, "thread_id": metadata.get("thread_id")}
            )
        else:
            self._parents[run_id] = self._parent(parent_run_id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the node's span."""
        self._end(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the node's span with its error (an interrupt is a pause, not an error)."""
        self._end(run_id, error)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A model call opens a span under its node."""
        metadata = metadata or {}
        model = metadata.get("ls_model_name") or kwargs.get("name") or (serialized or {}).get("name")
        self._start(
            run_id,
            parent_run_id,
            "hitl.model",
            {
                "model": model,
                "model_provider": metadata.get("ls_provider"),
                "node": metadata.get("langgraph_node"),
                "thread_id": metadata.get("thread_id"),
            },
        )

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A completion model's call: the same span as a chat model's."""
        self.on_chat_model_start(
            serialized, prompts, run_id=run_id, parent_run_id=parent_run_id, metadata=metadata, **kwargs
        )

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the model call's span."""
        self._end(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close the model call's span with its error."""
        self._end(run_id, error)
