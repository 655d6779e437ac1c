"""Shared runtime of hitl-agents: storage, review queue, audit, ledger, runner and CLI.

Checkpoints must never deserialize arbitrary Python objects, so strict msgpack mode is switched
on here, before any LangGraph module is imported by the project's processes.
"""

import os

os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
