"""Threads whose checkpoints are on LangGraph Server, read and resumed through its API (`langgraph-sdk`).

A thread started on the server (`hitl_runtime/server.py`) is reviewed in the same inbox; a decision
from the app, `hitl decide` or the HTTP API, and the sweep's expiry, are recorded here as for any
thread and then resumed there, with the recorded decision, which the gate admits as the runtime's
own (`nodes/resume_check.py`). The server is `HITL_LANGGRAPH_URL`; the runtime signs in with
`HITL_LANGGRAPH_TOKEN`, an account that reaches every thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, cast

from langgraph.types import Interrupt, StateSnapshot
from langgraph_sdk import get_sync_client

from hitl_core.db import Database
from hitl_core.errors import HitlError

HOST = "langgraph"
"""What `threads.host` says of a thread whose checkpoints are on LangGraph Server."""


class ServedThreads:
    """One LangGraph Server's threads, as the runner reads and resumes its own."""

    def __init__(self, url: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self._client = get_sync_client(url=url, headers=headers, timeout=300)

    @contextmanager
    def _answering(self) -> Iterator[None]:
        """The SDK's errors (httpx's, or a failed run's) as one line naming the server."""
        try:
            yield
        except Exception as exc:
            raise HitlError(f"LangGraph Server at {self.url}: {str(exc).splitlines()[0]}") from exc

    def snapshot(self, thread_id: str) -> StateSnapshot:
        """The thread's state where the server keeps it, in LangGraph's own shape."""
        with self._answering():
            state: dict[str, Any] = dict(self._client.threads.get_state(thread_id))
        checkpoint = state.get("checkpoint") or {}
        return StateSnapshot(
            values=dict(state.get("values") or {}),
            next=tuple(state.get("next") or ()),
            config={"configurable": {"thread_id": thread_id, "checkpoint_id": checkpoint.get("checkpoint_id")}},
            metadata=state.get("metadata"),
            created_at=state.get("created_at"),
            parent_config=None,
            tasks=(),
            interrupts=_interrupts([i for task in state.get("tasks") or [] for i in task["interrupts"]]),
        )

    def delete(self, thread_id: str) -> None:
        """Delete the thread and its checkpoints on the server (gone already is fine)."""
        with self._answering():
            try:
                self._client.threads.delete(thread_id)
            except Exception as exc:
                if getattr(getattr(exc, "response", None), "status_code", None) != 404:
                    raise

    def start(
        self, thread_id: str, agent: str, graph_input: dict[str, Any], token: str
    ) -> tuple[dict[str, Any], tuple[Interrupt, ...]]:
        """Run a turn on the thread (created if new) as the account `token` signs in; values and interrupts."""
        client = get_sync_client(url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=300)
        with self._answering():
            client.threads.create(thread_id=thread_id, if_exists="do_nothing")
            return _split(cast(dict[str, Any], client.runs.wait(thread_id, agent, input=graph_input)))

    def resume(self, thread_id: str, agent: str, resume: Any) -> tuple[dict[str, Any], tuple[Interrupt, ...]]:
        """Resume the thread with `resume` (keyed by interrupt id) and wait: its values and pending interrupts."""
        with self._answering():
            out = self._client.runs.wait(thread_id, agent, command={"resume": resume}, multitask_strategy="enqueue")
            return _split(cast(dict[str, Any], out))


class ThreadCheckpoints:
    """Checkpoints as the runner, retention and erasure reach them: its own, and the server's for server threads."""

    def __init__(self, local: Any, db: Database, served: ServedThreads | None) -> None:
        self.local, self.db, self.served = local, db, served

    def on_server(self, thread_id: str) -> ServedThreads | None:
        """The server that keeps this thread's checkpoints, or None when this runtime does."""
        rows = self.db.read("SELECT host FROM threads WHERE thread_id = :t", {"t": thread_id})
        if not rows or rows[0]["host"] != HOST:
            return None
        if self.served is None:
            raise HitlError(
                f"thread {thread_id} keeps its checkpoints on LangGraph Server: "
                "set HITL_LANGGRAPH_URL and HITL_LANGGRAPH_TOKEN to reach them"
            )
        return self.served

    def get_tuple(self, config: dict[str, Any]) -> Any:
        """The latest checkpoint (erasure reads its values): this runtime's, else the server's state."""
        saved = self.local.get_tuple(config)
        thread_id = str(config["configurable"]["thread_id"])
        server = None if saved is not None else self.on_server(thread_id)
        if server is None:
            return saved
        return SimpleNamespace(checkpoint={"channel_values": server.snapshot(thread_id).values})

    def delete_thread(self, thread_id: str) -> None:
        """Delete the thread's checkpoints wherever they are (retention's purge, erasure)."""
        self.local.delete_thread(thread_id)
        server = self.on_server(thread_id)
        if server is not None:
            server.delete(thread_id)


def _interrupts(listed: list[dict[str, Any]]) -> tuple[Interrupt, ...]:
    """Interrupts as the server's API lists them (`{"id", "value"}`), in LangGraph's own type."""
    return tuple(Interrupt(value=i["value"], id=i["id"]) for i in listed)


def _split(out: dict[str, Any]) -> tuple[dict[str, Any], tuple[Interrupt, ...]]:
    """A run's output as the thread's values and its pending interrupts."""
    if "__error__" in out:
        raise HitlError(f"the run failed: {out['__error__']}")
    return out, _interrupts(out.pop("__interrupt__", None) or [])
