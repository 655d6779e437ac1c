"""The customer support example agent: draft-then-approve over help articles, orders and refunds.

What the runtime reads from an agent package (see hitl_runtime.agents): the graph builder, the
context loader, the nodes whose signals re-validate an edit, the policy file, the offline model's
responder, the tables it owns and, here, its sweep step and where its records name a person.
Everything else is the package's own. Each name is imported when first read (`hitl_core.lazy`), so
a command that needs the tables does not load the graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hitl_core.lazy import lazy_exports

NAME = "support"

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ACTIONS": "graphs.support.graph:ACTIONS",
        "KNOWLEDGE": "graphs.support.files:KNOWLEDGE",
        "LESSON_RULES": "graphs.support.lesson_rules:LESSON_RULES",
        "MIGRATIONS": "graphs.support.migrations:MIGRATIONS",
        "NODES": "graphs.support.graph:NODES",
        "OFFLINE_RESPONDER": "graphs.support.offline:respond",
        "PEOPLE": "graphs.support.people",
        "POLICY_FILE": "graphs.support.files:POLICY_FILE",
        "PREPARE": "graphs.support.graph:prepare",
        "SWEEP": "graphs.support.records:sweep",
        "build_graph": "graphs.support.graph:build_graph",
        "load_context": "graphs.support.graph:load_context",
    },
)

if TYPE_CHECKING:
    from graphs.support import people as PEOPLE
    from graphs.support.files import KNOWLEDGE, POLICY_FILE
    from graphs.support.graph import ACTIONS, NODES, build_graph, load_context
    from graphs.support.graph import prepare as PREPARE
    from graphs.support.lesson_rules import LESSON_RULES
    from graphs.support.migrations import MIGRATIONS
    from graphs.support.offline import respond as OFFLINE_RESPONDER
    from graphs.support.records import sweep as SWEEP

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
