"""The compliance example agent: summaries on its own, qualified review for everything that binds.

What the runtime reads from an agent package (see hitl_runtime.agents): the graph builder, the
context loader, the nodes whose signals re-validate an edit, the policy file, the offline model's
responder, the tables it owns and, here, its search indexes. Everything else is the package's own.
Each name is imported when first read (`hitl_core.lazy`), so a command that needs the tables does
not load the graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hitl_core.lazy import lazy_exports

NAME = "compliance"

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ACTIONS": "graphs.compliance.graph:ACTIONS",
        "KNOWLEDGE": "graphs.compliance.files:KNOWLEDGE",
        "MIGRATIONS": "graphs.compliance.migrations:MIGRATIONS",
        "NODES": "graphs.compliance.graph:NODES",
        "OFFLINE_RESPONDER": "graphs.compliance.offline:respond",
        "POLICY_FILE": "graphs.compliance.files:POLICY_FILE",
        "PREPARE": "graphs.compliance.graph:prepare",
        "build_graph": "graphs.compliance.graph:build_graph",
        "load_context": "graphs.compliance.graph:load_context",
    },
)

if TYPE_CHECKING:
    from graphs.compliance.files import KNOWLEDGE, POLICY_FILE
    from graphs.compliance.graph import ACTIONS, NODES, build_graph, load_context
    from graphs.compliance.graph import prepare as PREPARE
    from graphs.compliance.migrations import MIGRATIONS
    from graphs.compliance.offline import respond as OFFLINE_RESPONDER

__all__ = [
    "ACTIONS",
    "KNOWLEDGE",
    "MIGRATIONS",
    "NAME",
    "NODES",
    "OFFLINE_RESPONDER",
    "POLICY_FILE",
    "PREPARE",
    "build_graph",
    "load_context",
]
