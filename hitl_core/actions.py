"""Actions agents may propose: their argument schema, preview, effect and undo.

An action's effect runs inside the ledger's transaction (the simulated systems live in the same
database), so recording it and doing it commit together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hitl_core.canonical import value_hash
from hitl_core.db import Tx
from hitl_core.errors import BadInput

Effect = dict[str, Any]


@dataclass(frozen=True)
class ActionSpec:
    """One kind of action.

    `execute` (transaction, args, thread id) and `undo` (transaction, effect) run inside the
    ledger's transaction; `preview` and `undo_plan` are pure and
    may read the database to describe what would happen.
    """

    name: str
    description: str
    args_model: type[BaseModel]
    execute: Callable[[Tx, dict[str, Any], str], Effect] | None = None
    """None for read-only actions (summaries, lookups): nothing to ledger or undo."""
    undo: Callable[[Tx, Effect], Effect] | None = None
    preview: Callable[[Tx, dict[str, Any]], dict[str, Any]] | None = None
    undo_plan: str = "No undo: the action changes nothing."
    identity: tuple[str, ...] = ()
    """Arguments that say what the action is about (a refund's order): a rejected action with the
    same identity may come back only through a new review. Empty means all arguments."""
    confirm: Callable[[dict[str, Any]], str] | None = None
    """What the requester is told once the action ran with these (possibly edited) arguments, in the past
    tense (`Ticket t-9 was closed.`): the chat shows it when the request is done."""
    draft_arg: str | None = None
    """The argument holding text a person will read (a reply's message): the output checks read it,
    and an edit of it becomes the proposal's draft."""
    done: str | None = None
    """What the action did, in the past tense (`refunded`): when a reviewer changed its amount the
    requester reads `We refunded 80.00 USD instead of the 120.00 USD requested, because ...`."""

    @property
    def has_effect(self) -> bool:
        """Whether the action changes anything (and so goes through the ledger)."""
        return self.execute is not None

    def signature(self, args: dict[str, Any]) -> str:
        """Identity of a proposal of this action, for the no-bypass rule."""
        keys = self.identity or tuple(sorted(args))
        return value_hash({"name": self.name, "args": {k: args.get(k) for k in keys}})

    def args_schema(self) -> dict[str, Any]:
        """JSON Schema of the arguments, as shown to reviewers and edit forms (a fresh copy each call)."""
        return dict(json.loads(_schema_text(self.args_model)))

    def validate_args(self, args: Any) -> dict[str, Any]:
        """Validate and normalise arguments, or BadInput naming the first bad field."""
        if not isinstance(args, dict):
            raise BadInput(f"{self.name}: arguments must be a JSON object")
        try:
            return self.args_model.model_validate(args).model_dump(mode="json")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(arguments)"
            raise BadInput(f"{self.name}: {where}: {first['msg']}") from None


@lru_cache(maxsize=256)
def _schema_text(model: type[BaseModel]) -> str:
    """A model's JSON Schema, generated once: pydantic builds it anew on every call (milliseconds per review)."""
    return json.dumps(model.model_json_schema())


_REGISTRY: dict[str, ActionSpec] = {}


def register(spec: ActionSpec) -> ActionSpec:
    """Add an action to the registry; names are global across agents."""
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing is not spec:
        raise ValueError(f"action {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def get_action(name: str) -> ActionSpec:
    """The action's spec, or BadInput."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BadInput(f"unknown action {name!r}") from None


def registered() -> dict[str, ActionSpec]:
    """All registered actions by name."""
    return dict(_REGISTRY)


ASK_REQUESTER = "ask_requester"
"""The one action every agent has: asking the requester a question (the model's own `ask_requester` tool).

It goes to the requester directly, except where the request needs a lead whatever is proposed:
then the question is what the lead reviews first (`guardrails.routing.assess`), and nothing runs
when it is approved but the question itself."""


class QuestionArgs(BaseModel):
    """The question put to the requester, as the reviewer approves or rewords it."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)


register(
    ActionSpec(
        name=ASK_REQUESTER,
        description="Ask the requester a question before going on.",
        args_model=QuestionArgs,
        undo_plan="Nothing to undo: a question changes nothing.",
        draft_arg="question",
    )
)
