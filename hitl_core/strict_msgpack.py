"""LangGraph's strict msgpack mode, switched on where a process starts (CLI, app, notebooks, tests).

LangGraph reads `LANGGRAPH_STRICT_MSGPACK` once, when `langgraph.checkpoint.serde._msgpack` is first
imported; without it, its default serializers import whatever type a checkpoint names on load. The
variable is set for modules imported later and for child processes, and if LangGraph is already
loaded its flag is set as well, so the result does not depend on import order. The project's
checkpointer does not depend on either: it passes an explicit strict serializer
(`hitl_core.checkpointing.strict_serializer`); this covers every other serializer LangGraph makes.
"""

from __future__ import annotations

import os
import sys

MSGPACK_MODULE = "langgraph.checkpoint.serde._msgpack"
"""Where LangGraph keeps the flag (checked by tests/test_langgraph_surface.py)."""


def enable_strict_msgpack() -> None:
    """Strict msgpack for this process and the processes it starts, whatever was imported before."""
    os.environ["LANGGRAPH_STRICT_MSGPACK"] = "true"
    loaded = sys.modules.get(MSGPACK_MODULE)
    if loaded is not None:
        vars(loaded)["STRICT_MSGPACK_ENABLED"] = True  # the flag its serializers read when built
