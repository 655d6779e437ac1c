"""The operations example agent: suggest-then-execute over a simulated fleet.

What the runtime reads from an agent package (see hitl_runtime.agents): the graph builder, the
context loader, the nodes whose signals re-validate an edit, the policy file, the offline model's
responder and the tables it owns. Everything else is the package's own. Each name is imported when
first read (`hitl_core.lazy`), so a command that needs the tables does not load the graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hitl_core.lazy import lazy_exports

NAME = "ops"

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ACTIONS": "graphs.ops.graph:ACTIONS",
        "KNOWLEDGE": "graphs.ops.files:KNOWLEDGE",
        "MIGRATIONS": "graphs.ops.migrations:MIGRATIONS",
        "NODES": "graphs.ops.graph:NODES",
        "OFFLINE_RESPONDER": "graphs.ops.offline:respond",
        "POLICY_FILE": "graphs.ops.files:POLICY_FILE",
        "build_graph": "graphs.ops.graph:build_graph",
        "load_context": "graphs.ops.graph:load_context",
    },
)

if TYPE_CHECKING:
    from graphs.ops.files import KNOWLEDGE, POLICY_FILE
    from graphs.ops.graph import ACTIONS, NODES, build_graph, load_context
    from graphs.ops.migrations import MIGRATIONS
    from graphs.ops.offline import respond as OFFLINE_RESPONDER

__all__ = [
    "ACTIONS",
    "KNOWLEDGE",
    "MIGRATIONS",
    "NAME",
    "NODES",
    "OFFLINE_RESPONDER",
    "POLICY_FILE",
    "build_graph",
    "load_context",
]
