"""The operations example agent: suggest-then-execute over a simulated fleet.

What the runtime reads from an agent package (see hitl_runtime.agents): the graph builder, the
context loader, the nodes whose signals re-validate an edit, the policy file, the offline model's
responder, the tables it owns and, here, its sweep step. Everything else is the package's own.
"""

from __future__ import annotations

from graphs.ops.files import KNOWLEDGE, POLICY_FILE
from graphs.ops.graph import ACTIONS, NODES, build_graph, load_context
from graphs.ops.migrations import MIGRATIONS
from graphs.ops.offline import respond as OFFLINE_RESPONDER

NAME = "ops"

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
