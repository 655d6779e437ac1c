"""What one dense inbox line says about a review: the request in a line, the target, the currency.

The target is what the agent's policy declares an edit may not change (`locked_args`: the order,
the service and environment, the subject, ...), so two reviews of the same action on different
targets never read alike. The currency is a locked argument too, but it is shown with the amount.
"""

from __future__ import annotations

from typing import Any

from hitl_core.errors import HitlError
from hitl_runtime.agents import agent_policy

NOT_TARGET = frozenset({"currency"})
"""Locked arguments that qualify the amount rather than name what the action is about."""


def _locked(agent: str, action: str) -> tuple[str, ...]:
    """The action's locked arguments, or none when the agent or action is not known here (policies are cached)."""
    try:
        spec = agent_policy(agent).actions.get(action)
    except (HitlError, ImportError, LookupError, OSError, ValueError):
        return ()
    return tuple(spec.locked_args) if spec is not None else ()


def target(agent: str, action: str | None, args: dict[str, Any] | None) -> str:
    """`service=api env=prod`: the action's locked arguments as named in its arguments ('' if none)."""
    if not action or not isinstance(args, dict):
        return ""
    names = [n for n in _locked(agent, action) if n not in NOT_TARGET and n in args]
    if not names:  # an action the policy does not lock: its identifiers are the best guess
        names = [n for n in args if n.endswith("_id")]
    return " ".join(f"{n}={args[n]}" for n in names)


def summary(text: Any, limit: int = 72) -> str:
    """The requester's words on one line, cut to `limit` characters."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def line(review: dict[str, Any]) -> dict[str, Any]:
    """An inbox row (`reviews.inbox`) plus `summary`, `target` and `currency`."""
    args = review.get("args") if isinstance(review.get("args"), dict) else {}
    currency = args.get("currency") if args else None
    return {
        **review,
        "summary": summary(review.get("request")),
        "target": target(review["agent"], review.get("action"), args),
        "currency": currency if isinstance(currency, str) else None,
    }
