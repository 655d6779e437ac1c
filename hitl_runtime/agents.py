"""The agents this deployment runs, by name: the shipped examples, plus any agent found elsewhere.

An agent is a module (or any object) with `build_graph()` returning an uncompiled StateGraph and
`load_context(tx, context, requester)`; optionally `NAME`, `POLICY` (a `Policy`) or `POLICY_FILE`
(a path), `NODES` (its `AgentNodes`, whose signals re-validate a reviewer's edit) and `PREPARE`
(what its first request would otherwise compute: its search indexes). Besides the
examples in `graphs/`, agents come from the entry-point group `hitl.agents` of installed packages
and from `HITL_AGENTS` (comma-separated `module:attribute` references, for agents that are not
installed as packages), read once per process.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from guardrails.policy import Policy, load_policy
from hitl_core.db import Tx
from hitl_core.errors import BadInput
from hitl_core.settings import configured
from hitl_core.users import BASE_ROLES

EXAMPLES_PACKAGE = "graphs"
"""The package whose subpackages are the shipped example agents (each an agent module)."""
ENTRY_POINT_GROUP = "hitl.agents"
_EXTRA: dict[str, Any] = {}
_DISCOVERED: list[str] = []
"""Names found through entry points and HITL_AGENTS (agents registered in code are not listed)."""
_discovered = False


def register_agent(name: str, module: Any) -> None:
    """Add an agent defined outside `graphs/` (benchmarks, tests and notebooks use this)."""
    _EXTRA[name] = module


def _load_reference(reference: str, source: str) -> Any:
    module_name, _, attribute = reference.strip().partition(":")
    if not module_name:
        raise BadInput(f"{source}: {reference!r} is not a module:attribute reference")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BadInput(f"{source}: cannot import {module_name!r}: {exc}") from None
    try:
        value = getattr(module, attribute) if attribute else module
    except AttributeError:
        raise BadInput(f"{source}: module {module_name!r} has no attribute {attribute!r}") from None
    for needed in ("build_graph", "load_context"):
        if not callable(getattr(value, needed, None)):
            raise BadInput(f"{source}: {reference!r} is not an agent (it has no {needed}())")
    return value


def _name_of(value: Any, fallback: str) -> str:
    name = getattr(value, "NAME", None) or getattr(value, "name", None) or fallback
    if not isinstance(name, str) or not name.isidentifier():
        raise BadInput(f"agent name {name!r} must be an identifier")
    return name


def _discover() -> None:
    """Agents from installed packages' entry points and from HITL_AGENTS (once per process)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in _EXTRA and point.name not in examples():
            _EXTRA[point.name] = _load_reference(point.value, f"entry point {point.name}")
            _DISCOVERED.append(point.name)
    # The registry is process-wide and consulted from every layer (pages, nodes, the CLI), discovered
    # once, lazily; so `HITL_AGENTS` is read here, through Settings, the one time it is needed.
    for reference in configured().agents:
        value = _load_reference(reference, "HITL_AGENTS")
        name = _name_of(value, reference.partition(":")[0].rsplit(".", 1)[-1])
        _EXTRA[name] = value
        _DISCOVERED.append(name)


def agent_module(name: str) -> Any:
    """The agent's module or object (with `build_graph` and `load_context`), or BadInput."""
    if name in _EXTRA:
        return _EXTRA[name]
    if name not in examples():
        _discover()
        if name in _EXTRA:
            return _EXTRA[name]
        raise BadInput(f"unknown agent {name!r} (choose from: {', '.join(available_agents())})")
    return importlib.import_module(f"{EXAMPLES_PACKAGE}.{name}")


@cache
def examples() -> tuple[str, ...]:
    """The shipped examples: every subpackage of `graphs` (found, not listed), in name order."""
    package = importlib.import_module(EXAMPLES_PACKAGE)
    return tuple(sorted(info.name for info in pkgutil.iter_modules(package.__path__) if info.ispkg))


def available_agents() -> list[str]:
    """The agents to offer: the shipped examples that are installed, then those found by discovery.

    Agents registered in code (`register_agent`: benchmarks, tests) run but are not offered.
    """
    _discover()
    found = list(examples())
    return found + sorted(n for n in _DISCOVERED if n not in found)


def agent_policy(name: str, policy_dir: str | Path | None = None) -> Policy:
    """The agent's policy: its own `POLICY` object, else `<policy_dir>/<name>.yaml`, else its `POLICY_FILE`.

    `policy_dir` defaults to the configured `HITL_POLICY_DIR` (see `load_policy`).
    """
    module = agent_module(name)
    own = getattr(module, "POLICY", None)
    if isinstance(own, Policy):
        return own
    return load_policy(name, policy_dir, own_file=policy_file(name))


def prepare(names: list[str] | None = None, policy_dir: str | Path | None = None) -> list[str]:
    """Embed the agents' intent examples and knowledge now, into the disk cache, so no request waits for it.

    Setup runs it once per machine (`python -m hitl_runtime.agents`); harnesses that kill their
    children run it before spawning them. Returns the agents prepared.
    """
    from guardrails import intents

    chosen = names if names is not None else available_agents()
    for name in chosen:
        intents.prepare(agent_policy(name, policy_dir))
        own = getattr(agent_module(name), "PREPARE", None)
        if callable(own):
            own()  # the agent's own indexes (its knowledge files)
    return chosen


def policy_file(name: str) -> Path | None:
    """Where the agent keeps its own policy file (beside its graph), if it has one."""
    path = getattr(agent_module(name), "POLICY_FILE", None)
    return Path(path) if path is not None else None


def shipped_policy_files() -> dict[str, Path]:
    """Each offered agent's own policy file, by agent (what a policy folder starts from)."""
    found = {}
    for name in available_agents():
        path = policy_file(name)
        if path is not None and path.exists():
            found[name] = path
    return found


def _known() -> list[str]:
    """Every agent this process can run: offered ones, then those registered in code."""
    names = available_agents()
    return names + [n for n in _EXTRA if n not in names]


def _each_agents(attribute: str) -> dict[str, Any]:
    """The optional `attribute` of every known agent that has one (a truthy value), by agent."""
    found = {name: getattr(agent_module(name), attribute, None) for name in _known()}
    return {name: value for name, value in found.items() if value}


def agent_migrations() -> dict[str, list[list[str]]]:
    """Each known agent's own tables (its `MIGRATIONS`), for the schema upgrade."""
    return {name: list(steps) for name, steps in _each_agents("MIGRATIONS").items()}


def agent_actions() -> dict[str, list[Any]]:
    """Each known agent's actions (its `ACTIONS`), loading its graph's modules, which register them.

    A process that has run no agent still needs every action's spec: a fresh `hitl rollback` undoes
    an action through it. Agent packages load their graphs lazily, so the runner asks here.
    """
    return {name: list(specs) for name, specs in _each_agents("ACTIONS").items()}


def sweep_steps() -> dict[str, Callable[[Tx], int]]:
    """Each known agent's own step in `hitl sweep` (its `SWEEP`: deliveries due, and the like)."""
    return {name: step for name, step in _each_agents("SWEEP").items() if callable(step)}


def reviewer_roles() -> list[str]:
    """Every role that reviews something for an offered agent (from their policies)."""
    return sorted({role for name in available_agents() for role in agent_policy(name).reviewer_roles()})


def known_roles() -> list[str]:
    """The deployment's roles: `BASE_ROLES` and every role an offered agent's policy names."""
    named = {role for name in available_agents() for role in agent_policy(name).roles()}
    return [*BASE_ROLES, *sorted(named - set(BASE_ROLES))]


def people_records() -> dict[str, Any]:
    """Each known agent's `PEOPLE`: where its business records name a person (for `hitl forget`)."""
    return _each_agents("PEOPLE")


def chat_roles() -> dict[str, tuple[str, ...]]:
    """Role -> the offered agents it may chat with, from each policy's `chat_roles`."""
    mapping: dict[str, list[str]] = {}
    for name in available_agents():
        for role in agent_policy(name).chat_roles:
            mapping.setdefault(role, []).append(name)
    return {role: tuple(names) for role, names in mapping.items()}


def lesson_rules(name: str) -> dict[tuple[str | None, str], dict[str, Any]]:
    """The agent's known remedies (`LESSON_RULES`): for feedback of an (action, category), the rule to propose."""
    return dict(getattr(agent_module(name), "LESSON_RULES", {}) or {})


if __name__ == "__main__":
    print("intent examples and knowledge embedded for: " + ", ".join(prepare()))
