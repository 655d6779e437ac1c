"""The agents this deployment runs, by name; each lives in `graphs/<name>.py`."""

from __future__ import annotations

import importlib
from types import ModuleType

from hitl_runtime.errors import BadInput

AGENTS = ("support", "ops", "compliance")
_EXTRA: dict[str, ModuleType] = {}


def register_agent(name: str, module: ModuleType) -> None:
    """Add an agent defined outside `graphs/` (benchmarks and tests use this)."""
    _EXTRA[name] = module


def agent_module(name: str) -> ModuleType:
    """The agent's graph module (with `build_graph` and `load_context`), or BadInput."""
    if name in _EXTRA:
        return _EXTRA[name]
    if name not in AGENTS:
        raise BadInput(f"unknown agent {name!r} (choose from: {', '.join(AGENTS)})")
    try:
        return importlib.import_module(f"graphs.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"graphs.{name}":
            raise BadInput(f"agent {name!r} is not installed in this build") from None
        raise


def available_agents() -> list[str]:
    """Agents whose graph module exists."""
    found = []
    for name in AGENTS:
        try:
            agent_module(name)
        except BadInput:
            continue
        found.append(name)
    return found
