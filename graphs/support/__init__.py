"""The customer support example agent: draft-then-approve over help articles, orders and refunds.

What the runtime reads from an agent package (see hitl_runtime.agents): the graph builder, the
context loader, the nodes whose signals re-validate an edit, the policy file, the offline model's
responder, the tables it owns and, here, its sweep step and where its records name a person. Everything else is the package's own.
"""

from __future__ import annotations

from graphs.support import people as PEOPLE
from graphs.support.files import KNOWLEDGE, POLICY_FILE
from graphs.support.graph import ACTIONS, NODES, build_graph, load_context
from graphs.support.graph import prepare as PREPARE
from graphs.support.lesson_rules import LESSON_RULES
from graphs.support.migrations import MIGRATIONS
from graphs.support.offline import respond as OFFLINE_RESPONDER
from graphs.support.records import sweep as SWEEP

NAME = "support"

__all__ = [
    "ACTIONS",
    "KNOWLEDGE",
    "LESSON_RULES",
    "MIGRATIONS",
    "NAME",
    "NODES",
    "OFFLINE_RESPONDER",
    "PEOPLE",
    "POLICY_FILE",
    "PREPARE",
    "SWEEP",
    "build_graph",
    "load_context",
]
