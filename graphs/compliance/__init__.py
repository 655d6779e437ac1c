"""The compliance example agent: summaries on its own, qualified review for everything that binds.

What the runtime reads from an agent package (see hitl_runtime.agents): the graph builder, the
context loader, the nodes whose signals re-validate an edit, the policy file, the offline model's
responder, the tables it owns and, here, its sweep step. Everything else is the package's own.
"""

from __future__ import annotations

from graphs.compliance.files import KNOWLEDGE, POLICY_FILE
from graphs.compliance.graph import ACTIONS, NODES, build_graph, load_context
from graphs.compliance.graph import prepare as PREPARE
from graphs.compliance.migrations import MIGRATIONS
from graphs.compliance.offline import respond as OFFLINE_RESPONDER

NAME = "compliance"

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
