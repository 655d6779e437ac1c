"""The few places where fencing leans on LangGraph beyond its public surface, checked by name.

`hitl_core/checkpointing.py` fences every checkpoint write by overriding the savers' cursor
factories (`SqliteSaver.cursor`, `PostgresSaver._cursor`), which LangGraph does not document as
extension points. If an upgrade renames them, or `put` / `put_writes` stop writing through them,
fencing would silently stop: these tests fail first, with a message saying what moved. (The
behaviour itself, a stale lease holder's write refused, is tested in test_concurrency.py.)
"""

from __future__ import annotations

import inspect

import pytest
from langgraph.checkpoint.postgres import PostgresSaver, _internal
from langgraph.checkpoint.sqlite import SqliteSaver


@pytest.mark.parametrize(
    ("saver", "factory", "call"),
    [(SqliteSaver, "cursor", "self.cursor("), (PostgresSaver, "_cursor", "self._cursor(")],
    ids=["sqlite", "postgres"],
)
def test_checkpoint_writes_go_through_the_cursor_factory_we_fence(saver, factory, call):
    assert callable(getattr(saver, factory, None)), (
        f"{saver.__name__}.{factory} is gone: hitl_core/checkpointing.py fences writes by overriding it"
    )
    for method in ("put", "put_writes"):
        source = inspect.getsource(getattr(saver, method))
        assert call in source, (
            f"{saver.__name__}.{method} no longer writes through {factory}(): checkpoint writes would not be "
            "fenced; adapt hitl_core/checkpointing.py to where it writes now"
        )


def test_the_postgres_saver_still_hands_out_its_connection_the_way_we_borrow_it():
    assert callable(getattr(_internal, "get_connection", None)), (
        "langgraph.checkpoint.postgres._internal.get_connection is gone: the fenced PostgreSQL cursor borrows "
        "the saver's connection with it (hitl_core/checkpointing.py)"
    )
    for attribute in ("lock", "conn", "pipe"):
        assert attribute in inspect.getsource(PostgresSaver.__init__), f"PostgresSaver no longer sets self.{attribute}"
