"""Declarative review policies, one YAML file per agent, validated on load.

A policy says which actions need a human and when, who may decide them up to which amount, where
escalations go, how long a review may wait and what happens when nobody answers. Code computes
signals and facts; the policy turns them into a route.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hitl_core.actions import ASK_REQUESTER
from hitl_core.errors import BadInput
from hitl_core.settings import configured
from hitl_core.users import validate_role

DEFAULT_RETENTION_DAYS = 90
"""How long a finished thread's checkpoints and conversation are kept when a policy does not say."""

Outcome = Literal["review", "escalate", "needs_info", "block", "revise", "info"]
"""What a failed check or a holding rule means. `revise`: the agent rewrites its draft first (bounded by
`max_draft_revisions`, then a human reviews it); `info`: shown to the reviewer, routes nothing."""
Fallback = Literal["reject", "escalate", "approve"]
Operator = Literal["==", "!=", ">=", ">", "<=", "<", "in", "not_in", "contains", "true", "false"]
Route = Literal["auto", "review", "needs_info", "escalate", "block"]
NOTIFY_REQUESTER = "requester"
"""The `notify` key (and `HITL_NOTIFY_URLS` prefix) of the channel that reaches requesters."""
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


def _role_name(role: str) -> None:
    """A role name's check as a validation error, so the message names the field it is in."""
    try:
        validate_role(role)
    except BadInput as exc:
        raise ValueError(str(exc)) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    """Who may decide: the roles, how many distinct approvers, and up to which amount."""

    name: str
    roles: list[str] = Field(min_length=1)
    approvals: int = Field(default=1, ge=1, le=5)
    max_amount: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _role_names(self) -> Tier:
        for role in self.roles:
            _role_name(role)
        return self


class ActionPolicy(_Strict):
    """How one action is governed."""

    review: Literal["always", "on_exception", "never"]
    reversible: bool
    base_risk: float = Field(ge=0, le=1)
    amount_arg: str | None = None
    tiers: list[Tier] = Field(min_length=1)
    deadline_minutes: int | None = Field(default=None, ge=1)
    expiry_fallback: Fallback | None = None
    locked_args: list[str] = Field(default_factory=list)
    """Arguments a reviewer's edit may not change: what the action is about (its target, the
    currency, the principal). Retargeting is a new request, not an edit."""
    ignore_roles: list[str] = Field(default_factory=list)
    """Roles whose reviewers may dismiss a review of this action (the `ignore` decision: nothing is
    done, the thread ends `dismissed`, the requester is told so without the reviewer's reason).
    Empty, the default: a review of this action is always decided with approve, edit or reject."""

    @field_validator("ignore_roles")
    @classmethod
    def _ignore_role_names(cls, roles: list[str]) -> list[str]:
        for role in roles:
            _role_name(role)
        return roles

    @model_validator(mode="after")
    def _ordered_tiers(self) -> ActionPolicy:
        limits = [t.max_amount for t in self.tiers]
        bounded = [x for x in limits if x is not None]
        if bounded != sorted(bounded) or (None in limits and limits.index(None) != len(limits) - 1):
            raise ValueError("tiers must be ordered by max_amount, an unbounded tier last")
        return self


class Rule(_Strict):
    """A named check on one fact; when it holds, the outcome applies and `rule` says why."""

    id: str
    fact: str
    op: Operator
    value: Any = None
    outcome: Outcome
    rule: str
    actions: list[str] | None = None


class Condition(_Strict):
    """A test on one fact, in the rules' language (`service.env == prod`)."""

    fact: str
    op: Operator
    value: Any = None


class Intent(_Strict):
    """A kind of request, recognised from what the requester wrote, whatever the agent proposes.

    The validator finds the request's intents itself (`guardrails.intents`: sentence embeddings
    compared with these labelled examples, with lexical evidence), and no proposal routes below
    the intent's minimum route: a read-only answer to a request that changes production still
    goes to a person, and a request to destroy records is blocked whatever the model proposes.
    """

    route: Route
    """The minimum route of a request of this kind."""
    rule: str
    """Why, in words the reviewer reads."""
    when: list[Condition] = Field(default_factory=list)
    """The minimum route applies only when every condition holds (on the agent's facts)..."""
    otherwise: Route = "auto"
    """...and this one when one does not (`auto`: no minimum)."""
    otherwise_rule: str | None = None
    """Why, when `otherwise` applies and is a route a reviewer sees (defaults to `rule`)."""
    actions: list[str] = Field(default_factory=list)
    """Actions that do what the request asks (the offline model proposes the first one)."""
    examples: list[str] = Field(min_length=3)
    """Labelled example requests, in the words requesters use."""
    min_score: float | None = Field(default=None, ge=0, le=1)
    """A stricter bar than the policy's `intent_min_score` (for intents that block or escalate)."""
    how_to_answers: bool = False
    """A wish of this kind told beside a question on how to do it or what the options are ("I'd like to
    swap the cover for a king. How do exchanges work?") is that question's subject: the requester asks
    for instructions, and the wish counts only where the request asks it outright."""
    hands_off_answers: bool = False
    """An act of this kind asked about by someone who says not to act ("what would scaling it cost? just
    curious, don't change it") is the question's subject: the requester asks to be told, and the act
    counts only where a sentence asks it outright ("can you restart it?")."""
    whole_request: bool = False
    """Judged on the whole request only, never on one of its sentences: a vague request ("need help with
    my order") is vague as a whole, while "hello?" before a precise question is not."""


class IntentReading(_Strict):
    """How a request's sentences are matched to the intents (`guardrails.intents`).

    `nearest`: the intent of the closest examples counts when its score reaches the bar (and leads
    milder intents by the margin). `classifier`: a linear classifier trained on every intent's examples
    at once says how likely each intent is; the closest examples only decide whether a sentence is
    near any intent at all (`intent_min_score`). Nearest examples compare topics, so a question about
    refunds sits close to a refund; the classifier weighs the directions in which the intents' examples
    differ, which is what tells a request from a question on the same topic.
    """

    kind: Literal["nearest", "classifier"] = "classifier"
    regularisation: float = Field(default=100.0, gt=0)
    """The classifier's inverse L2 strength (scikit-learn's `C`): larger fits the examples more closely."""
    min_probability: float = Field(default=0.5, gt=0, le=1)
    """An intent this likely counts."""
    stricter_probability: float = Field(default=0.2, gt=0, le=1)
    """An intent with a minimum route above auto counts from this probability on the whole request: in doubt, the
    stricter reading (chosen by cross-validation on the examples: no more routine examples flagged than before)."""
    part_lead: float = Field(default=0.35, ge=0, le=1)
    """On a sentence or clause of a longer request, a stricter intent's lead over the clause's routine readings."""
    sure_probability: float = Field(default=0.8, gt=0, le=1)
    """A refusal the classifier reads this surely blocks on its own; below, it needs the nearest examples to agree
    (otherwise it is tentative: a person decides)."""
    unread_route: Literal["auto", "review", "needs_info", "escalate"] = "review"
    """The minimum route of a request that none of the intents reads (no sentence near any example, or none
    likely enough): the agent has not understood what is asked, so a harmless proposal must not complete it."""


class Thresholds(_Strict):
    """Confidence bands and risk limits (the seed's "Confidence Thresholds")."""

    auto_min_confidence: float = Field(ge=0, le=1)
    auto_max_risk: float = Field(ge=0, le=1)
    review_min_confidence: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _bands(self) -> Thresholds:
        if self.review_min_confidence > self.auto_min_confidence:
            raise ValueError("review_min_confidence must not exceed auto_min_confidence")
        return self


class Oversight(_Strict):
    """Who may read an agent's audit trail and its metrics (administrators always may)."""

    audit: list[str] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _role_names(self) -> Oversight:
        for role in [*self.audit, *self.metrics]:
            _role_name(role)
        return self


class Policy(_Strict):
    """One agent's policy file."""

    agent: str
    version: int = Field(ge=1)
    thresholds: Thresholds
    review_deadline_minutes: int = Field(ge=1)
    expiry_fallback: Literal["reject", "escalate"]
    max_revisions: int = Field(ge=0, le=10)
    max_draft_revisions: int = Field(default=1, ge=0, le=5)
    """How many times the agent may rewrite a draft that failed a check with the outcome `revise`."""
    confidence_weights: dict[str, float]
    escalation_path: list[Tier] = Field(min_length=1)
    actions: dict[str, ActionPolicy] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)
    guardrail_outcomes: dict[str, Outcome] = Field(default_factory=dict)
    """Per-check override of what a failed guardrail check means (by check id)."""
    intents: dict[str, Intent] = Field(default_factory=dict)
    """Kinds of request with their minimum routes, judged on the request itself (see `Intent`)."""
    intent_min_score: float = Field(default=0.5, ge=0, le=1)
    """How close a request (or one of its sentences) must come to an intent's examples to count as one."""
    intent_min_margin: float = Field(default=0.03, ge=0, le=1)
    """How far the closest intent must lead every intent with a milder minimum route."""
    intent_reading: IntentReading = Field(default_factory=IntentReading)
    """Nearest examples or a classifier trained on them (see `IntentReading`)."""
    oversight: Oversight = Field(default_factory=Oversight)
    chat_roles: list[str] = Field(default_factory=list)
    """Roles whose members may chat with this agent in the app (the app's secrets may say otherwise)."""
    notify: dict[str, list[str]] = Field(default_factory=dict)
    """Role (one this policy names, or `requester`) -> apprise URLs told of this agent's reviews, besides
    `HITL_NOTIFY_URLS` (hitl_runtime/notifications.py). A single URL may stand for a list of one."""

    @field_validator("notify", mode="before")
    @classmethod
    def _notify_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _chat_role_names(self) -> Policy:
        for role in self.chat_roles:
            _role_name(role)
        return self

    @model_validator(mode="after")
    def _notify_channels(self) -> Policy:
        known = self.roles()
        for role, urls in self.notify.items():
            if role != NOTIFY_REQUESTER and role not in known:
                raise ValueError(
                    f"notify.{role}: unknown role (this policy names: {', '.join(sorted(known))}; or {NOTIFY_REQUESTER})"
                )
            for url in urls:
                if not _URL.match(url):
                    raise ValueError(
                        f"notify.{role}: {url.split(':', 1)[0][:40]!r}... is not an apprise URL (scheme://...)"
                    )
        return self

    def reviewer_roles(self) -> set[str]:
        """Every role that may decide something of this agent (action tiers and the escalation path)."""
        tiers = [t for a in self.actions.values() for t in a.tiers] + list(self.escalation_path)
        return {role for tier in tiers for role in tier.roles}

    def roles(self) -> set[str]:
        """Every role this policy names: reviewers and the oversight roles."""
        return self.reviewer_roles() | set(self.oversight.audit) | set(self.oversight.metrics) | set(self.chat_roles)

    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1, le=36500, strict=True)
    """Days a finished thread's checkpoints and conversation are kept after its last update
    (`hitl sweep` purges them; the audit trail and the ledger keep their rows)."""

    @model_validator(mode="after")
    def _the_question_action(self) -> Policy:
        # Every agent may ask the requester; a lead reviews the question where the request needs one
        # (guardrails.routing.assess). Its ladder is then the escalation path; a policy may govern it itself.
        if ASK_REQUESTER not in self.actions:
            self.actions[ASK_REQUESTER] = ActionPolicy(
                review="always", reversible=True, base_risk=0.0, tiers=[self.escalation_path[0]]
            )
        return self

    @model_validator(mode="after")
    def _known_intent_actions(self) -> Policy:
        for name, intent in self.intents.items():
            for action_name in intent.actions:
                if action_name not in self.actions:
                    raise ValueError(f"intents.{name}.actions: unknown action {action_name!r}")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        for name, action in self.actions.items():
            if action.expiry_fallback == "approve" and (not action.reversible or action.base_risk > 0.3):
                raise ValueError(
                    f"actions.{name}.expiry_fallback: approve-on-expiry is allowed only for a "
                    "reversible action with base_risk <= 0.3"
                )
            if not action.reversible and any(t.approvals < 2 for t in action.tiers):
                raise ValueError(f"actions.{name}.tiers: an irreversible action needs approvals >= 2")
            deciders = self.rollback_roles(name)
            for role in action.ignore_roles:
                if role not in deciders:
                    raise ValueError(
                        f"actions.{name}.ignore_roles: {role} may not decide {name} "
                        f"(its tiers and the escalation path name {', '.join(deciders)})"
                    )
        for rule in self.rules:
            for action_name in rule.actions or []:
                if action_name not in self.actions:
                    raise ValueError(f"rules.{rule.id}.actions: unknown action {action_name!r}")
        if any(w < 0 for w in self.confidence_weights.values()) or not sum(self.confidence_weights.values()):
            raise ValueError("confidence_weights: weights must be >= 0 and not all zero")
        return self

    def action(self, name: str) -> ActionPolicy:
        """The action's policy, or BadInput for an action the policy does not know."""
        try:
            return self.actions[name]
        except KeyError:
            raise BadInput(f"policy {self.agent!r} has no action {name!r}") from None

    def rollback_roles(self, action: str) -> list[str]:
        """Who may undo an executed action: the roles that may decide it (its tiers and the escalation path)."""
        action_policy = self.action(action)
        return sorted({r for t in [*action_policy.tiers, *self.escalation_path] for r in t.roles})

    def ignore_roles(self, action: str) -> list[str]:
        """Who may dismiss a review of the action (the `ignore` decision); empty when nobody may."""
        return list(self.action(action).ignore_roles)

    def ignore_roles_at(self, action: str, tier_roles: Iterable[str]) -> list[str]:
        """Who may dismiss a review of the action at a tier deciding with `tier_roles`: the roles in both."""
        at_tier = set(tier_roles)
        return [role for role in self.ignore_roles(action) if role in at_tier]

    def may_be_ignored(self, action: str, tier_roles: Iterable[str]) -> bool:
        """Whether a review of the action at a tier deciding with `tier_roles` may be dismissed by someone there."""
        return bool(self.ignore_roles_at(action, tier_roles))

    def deadline_minutes(self, action: str) -> int:
        """Review deadline for an action (its own, else the policy's)."""
        return self.actions[action].deadline_minutes or self.review_deadline_minutes

    def fallback(self, action: str) -> Fallback:
        """What happens at a review's deadline."""
        return self.actions[action].expiry_fallback or self.expiry_fallback


def _one_line(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    return " ".join(f"{source}: {where}: {message}".split())  # one line, whatever the YAML keys hold


MAX_POLICY_CHARS = 256_000
"""A policy file's size cap (the shipped ones, with their example banks, are under 90 KB)."""


class _AliasRefused(yaml.YAMLError):
    def __init__(self, mark: Any, what: str) -> None:
        super().__init__(what)
        self.problem_mark = mark
        self.what = what


_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: a policy with its example banks (60-80 KB)
parses in milliseconds instead of the pure-Python loader's half second, which every process paid."""


def _refuse_anchors(text: str) -> None:
    """A policy spells every value out: the first anchor or alias is refused, before anything is built.

    Aliases nest into exponentially large values (the "billion laughs" document); the event stream
    shows them before any value exists, so refusing them costs one pass of the parser.
    """
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent):
            raise _AliasRefused(event.start_mark, f"alias *{event.anchor}")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _AliasRefused(event.start_mark, f"anchor &{anchor}")


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Parse YAML text into a Policy, or BadInput naming the field that is wrong."""
    if len(text) > MAX_POLICY_CHARS:
        raise BadInput(f"{source}: the policy is larger than {MAX_POLICY_CHARS} characters")
    try:
        _refuse_anchors(text)
        data = yaml.load(text, Loader=_SAFE_LOADER)  # safe: plain data only
    except _AliasRefused as exc:
        line = exc.problem_mark.line + 1
        raise BadInput(
            f"{source}: line {line}: YAML anchors and aliases are not allowed in a policy ({exc.what})"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", exc)).split())
        raise BadInput(f"{source}:{where} is not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{source}: expected a mapping at the top level")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise BadInput(_one_line(exc, source)) from None


def load_policy_file(path: Path) -> Policy:
    """Load and validate one policy file."""
    try:
        if path.stat().st_size > 4 * MAX_POLICY_CHARS:  # not even read: parse_policy counts characters
            raise BadInput(f"{path.name}: the policy is larger than {MAX_POLICY_CHARS} characters")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read policy file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path.name}: the policy is not valid UTF-8") from None
    return parse_policy(text, str(path.name))


@lru_cache(maxsize=16)
def _cached(path: str, mtime: float) -> Policy:
    return load_policy_file(Path(path))


def load_policy(agent: str, directory: Path | str | None = None, *, own_file: Path | None = None) -> Policy:
    """The agent's policy, reloaded when its file changes.

    `<agent>.yaml` in `directory` (the runner passes its settings' `policy_dir`) wins when it is there
    (simulations and deployments replace policies that way); otherwise the agent's own file (`own_file`,
    beside its graph). Without `directory`, the configured `HITL_POLICY_DIR`, read through `Settings`:
    the example agents' offline models load their policy's intents with no settings in reach.
    """
    chosen = directory or configured().policy_dir
    folder = Path(chosen) if chosen else None
    path = folder / f"{agent}.yaml" if folder is not None else None
    if (path is None or not path.exists()) and own_file is not None:
        path = Path(own_file)
    if path is None or not path.exists():
        where = f" at {path}" if path is not None else ""
        raise BadInput(f"no policy file for agent {agent!r}{where}")
    policy = _cached(str(path), path.stat().st_mtime)
    if policy.agent != agent:
        raise BadInput(f"{path.name}: agent: says {policy.agent!r}, expected {agent!r}")
    return policy
