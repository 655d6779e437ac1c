"""The validator: signals, checks and policy in, one route out (auto, review, needs info, escalate, block).

Every agent routes through `assess`, so the same thresholds, tiers and escalation rules apply to
support, ops and compliance alike. The result keeps each signal and check separately: reviewers
see why, not only a total.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guardrails.policy import ActionPolicy, Policy, Rule, Thresholds, Tier
from hitl_core.actions import ASK_REQUESTER

if TYPE_CHECKING:
    from guardrails.calibration import Calibration

ROUTE_ORDER = ("auto", "review", "needs_info", "escalate", "block")


@dataclass
class Signal:
    """One named input to confidence or risk, in [0, 1], with what it is based on."""

    name: str
    value: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """Plain form for graph state and the review payload."""
        return {"name": self.name, "value": round(self.value, 4), "detail": self.detail}


@dataclass
class Check:
    """A guardrail or policy check: whether it passed, what failing it means, the rule behind it."""

    id: str
    passed: bool
    outcome: str
    rule: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain form for graph state and the review payload."""
        return {
            "id": self.id,
            "passed": self.passed,
            "outcome": self.outcome,
            "rule": self.rule,
            "detail": self.detail,
        }


@dataclass
class Proposal:
    """What the validator needs to know about a proposed action."""

    action: str | None
    args: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    """Information the agent still needs from the requester before it can act."""
    previously_rejected: bool = False
    revisions_left: int = 0
    """Draft rewrites still allowed this turn; 0 turns a check's `revise` outcome into `review`."""


def fact_value(facts: dict[str, Any], path: str) -> Any:
    """Look up `a.b.c` in nested dicts; None when absent."""
    node: Any = facts
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def rule_holds(rule: Rule, facts: dict[str, Any]) -> bool:
    """Evaluate one declarative rule against the facts; an absent fact never holds."""
    actual = fact_value(facts, rule.fact)
    if rule.op == "true":
        return bool(actual)
    if rule.op == "false":
        return actual is not None and not actual
    if actual is None:
        return False
    expected = rule.value
    try:
        match rule.op:
            case "==":
                return bool(actual == expected)
            case "!=":
                return bool(actual != expected)
            case ">=":
                return bool(actual >= expected)
            case ">":
                return bool(actual > expected)
            case "<=":
                return bool(actual <= expected)
            case "<":
                return bool(actual < expected)
            case "in":
                return actual in expected
            case "not_in":
                return actual not in expected
            case "contains":
                return expected in actual
    except TypeError:
        return False
    return False


def combine_confidence(signals: list[Signal], weights: dict[str, float]) -> float:
    """Weighted mean of the signals the policy weighs; unweighted signals are shown, not counted."""
    total = sum(weights.get(s.name, 0.0) for s in signals)
    if total <= 0:
        return 0.0
    return sum(weights.get(s.name, 0.0) * s.value for s in signals) / total


def combine_risk(signals: list[Signal]) -> float:
    """Noisy-OR: independent risks compound, and no single low signal can hide a high one."""
    return 1.0 - math.prod(1.0 - min(max(s.value, 0.0), 1.0) for s in signals)


def _tier_for_amount(tiers: list[Tier], amount: float | None) -> int | None:
    """Index of the first tier whose limit covers the amount; None when it exceeds them all."""
    for index, tier in enumerate(tiers):
        if tier.max_amount is None or amount is None or amount <= tier.max_amount:
            return index
    return None


def amount_of(policy: Policy, action: str, args: dict[str, Any]) -> float | None:
    """The money (or size) an action moves, per the policy's `amount_arg`."""
    arg = policy.actions[action].amount_arg if action in policy.actions else None
    value = args.get(arg) if arg else None
    return float(value) if isinstance(value, (int, float)) else None


def ladder_for(policy: Policy, action: str, amount: float | None, escalated: bool) -> list[Tier]:
    """Reviewer tiers in order: the amount's tier, then the escalation path above it."""
    action_policy = policy.actions[action]
    index = _tier_for_amount(action_policy.tiers, amount)
    path = list(policy.escalation_path)
    if escalated or index is None:
        return _with_min_approvals(path, action_policy.reversible)
    first = action_policy.tiers[index]
    # The path above skips the first tier's people, unless it asks more of them (more approvers).
    rest = [t for t in path if set(t.roles) != set(first.roles) or t.approvals > first.approvals]
    return _with_min_approvals([first, *rest], action_policy.reversible)


def _with_min_approvals(tiers: list[Tier], reversible: bool) -> list[Tier]:
    if reversible:
        return tiers
    return [t if t.approvals >= 2 else t.model_copy(update={"approvals": 2}) for t in tiers]


def assess(
    policy: Policy,
    proposal: Proposal,
    facts: dict[str, Any],
    confidence_signals: list[Signal],
    risk_signals: list[Signal],
    checks: list[Check],
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """Route one proposal. Order of precedence: block, needs info, revise, escalate, review, auto.

    A question to the requester (needs info) where a check says a lead must see the request is
    routed `escalate` as the action `ask_requester` (`asks_first`): the lead reviews the question,
    so an unanswered one cannot close the request unseen.

    `revise` (the agent rewrites its draft) is only returned while `proposal.revisions_left` > 0;
    after that the same failures go to a human. With a `calibration`, the confidence routed on is
    the calibrated one and the thresholds are mapped onto the same scale (a strictly increasing
    map, so the routes are exactly those of the raw scale).
    """
    action = proposal.action
    checks = _policy_checks(policy, action, facts, checks)
    failed = [c for c in checks if not c.passed]
    raw_confidence = combine_confidence(confidence_signals, policy.confidence_weights)
    confidence = calibration.apply(raw_confidence) if calibration is not None else raw_confidence
    action_policy = policy.actions.get(action) if action else None
    if action_policy is not None:
        risk_signals = [Signal("action_base_risk", action_policy.base_risk, f"{action} per policy"), *risk_signals]
    risk = combine_risk(risk_signals)
    th = calibration.thresholds(policy.thresholds) if calibration is not None else policy.thresholds
    amount = amount_of(policy, action, proposal.args) if action else None
    route, reasons = _route(policy, proposal, failed, amount, confidence, risk, th)
    leads = [c for c in failed if c.outcome == "escalate"]
    asks_first = route == "needs_info" and bool(leads)
    if asks_first:  # a question never hides a request that needs a lead: the lead reviews the question first
        route, action, amount = "escalate", ASK_REQUESTER, None
        reasons = [f"{c.id}: {c.rule}" for c in leads] + [f"the agent asks the requester first: {'; '.join(reasons)}"]
        action_policy = policy.actions[ASK_REQUESTER]
    result: dict[str, Any] = {
        "route": route,
        "risk": round(risk, 4),
        "confidence": round(confidence, 4),
        "confidence_raw": round(raw_confidence, 4),
        "calibration": calibration.describe() if calibration is not None else None,
        "risk_signals": [s.as_dict() for s in risk_signals],
        "confidence_signals": [s.as_dict() for s in confidence_signals],
        "checks": [c.as_dict() for c in checks],
        "reasons": reasons,
        "amount": amount,
        "ladder": [],
        "tier": 0,
        "reversible": action_policy.reversible if action_policy else None,
        "deadline_minutes": policy.deadline_minutes(action) if action and action_policy else None,
        "fallback": policy.fallback(action) if action_policy and action else None,
        "asks_first": asks_first,
    }
    if route in ("review", "escalate") and action is not None:
        ladder = ladder_for(policy, action, amount, escalated=route == "escalate")
        result["ladder"] = [t.model_dump() for t in ladder]
    return result


def _policy_checks(policy: Policy, action: str | None, facts: dict[str, Any], checks: list[Check]) -> list[Check]:
    """The checks with the policy's outcome for each, then the policy's own rules that apply to this action."""
    checks = [Check(c.id, c.passed, policy.guardrail_outcomes.get(c.id, c.outcome), c.rule, c.detail) for c in checks]
    for rule in policy.rules:
        if rule.actions is not None and action not in rule.actions:
            continue
        holds = rule_holds(rule, facts)
        checks.append(Check(rule.id, not holds, rule.outcome, rule.rule, _rule_detail(rule, facts)))
    return checks


def _route(
    policy: Policy,
    proposal: Proposal,
    failed: list[Check],
    amount: float | None,
    confidence: float,
    risk: float,
    th: Thresholds,
) -> tuple[str, list[str]]:
    """The route and its reasons, by precedence: block, needs info, revise, escalate, review, auto."""
    action = proposal.action
    action_policy = policy.actions.get(action) if action else None
    reasons: list[str] = []

    def outcome(kind: str) -> list[Check]:
        return [c for c in failed if c.outcome == kind]

    if outcome("block") or (action is not None and action_policy is None):
        reasons += [f"{c.id}: {c.rule}" for c in outcome("block")]
        if action is not None and action_policy is None:
            reasons.append(f"action {action!r} is not permitted by the {policy.agent} policy")
        return "block", reasons
    if proposal.missing or outcome("needs_info") or action is None:
        reasons += [f"missing: {m}" for m in proposal.missing]
        reasons += [f"{c.id}: {c.rule}" for c in outcome("needs_info")]
        if action is None and not reasons:
            reasons.append("the request does not say what is needed")
        return "needs_info", reasons
    if outcome("revise") and proposal.revisions_left > 0:
        return "revise", [f"{c.id}: {c.rule}" for c in outcome("revise")]
    assert action_policy is not None
    exceeds = _tier_for_amount(action_policy.tiers, amount) is None
    low_conf = confidence < th.review_min_confidence
    if outcome("escalate") or exceeds or low_conf:
        reasons += [f"{c.id}: {c.rule}" for c in outcome("escalate")]
        if exceeds:
            reasons.append(f"amount {amount:g} exceeds the highest approval tier for {action}")
        if low_conf:
            reasons.append(f"confidence {confidence:.2f} below {th.review_min_confidence:.2f}")
        return "escalate", reasons
    needs_review = _review_reasons(proposal, action_policy, failed, confidence, risk, th)
    return ("review" if needs_review else "auto"), needs_review


def _review_reasons(
    proposal: Proposal,
    action_policy: ActionPolicy,
    failed: list[Check],
    confidence: float,
    risk: float,
    th: Thresholds,
) -> list[str]:
    """Why a human must see a proposal no stronger route took; none means it may run automatically."""
    action = proposal.action
    needs_review = []
    if action_policy.review == "always":
        needs_review.append(f"{action} always needs review per policy")
    needs_review += [f"{c.id}: {c.rule}" for c in failed if c.outcome == "review"]
    needs_review += [f"{c.id}: {c.rule} (still failing after revision)" for c in failed if c.outcome == "revise"]
    if proposal.previously_rejected:
        needs_review.append("the same action was rejected earlier on this thread")
    if action_policy.review != "never":
        if risk > th.auto_max_risk:
            needs_review.append(f"risk {risk:.2f} above {th.auto_max_risk:.2f}")
        if confidence < th.auto_min_confidence:
            needs_review.append(f"confidence {confidence:.2f} below {th.auto_min_confidence:.2f}")
    if proposal.previously_rejected and action_policy.review == "never":
        needs_review.append("a rejected action cannot run automatically")
    return needs_review


def _rule_detail(rule: Rule, facts: dict[str, Any]) -> str:
    actual = fact_value(facts, rule.fact)
    if rule.op in ("true", "false"):
        return f"{rule.fact} = {actual!r}"
    return f"{rule.fact} = {actual!r} ({rule.op} {rule.value!r})"


def lesson_checks(lessons: list[dict[str, Any]], facts: dict[str, Any], action: str | None) -> list[Check]:
    """Accepted rule lessons as validator checks (like policy rules, with the lesson named in the rule)."""
    checks = []
    for lesson in lessons:
        raw = lesson.get("rule")
        if not raw:
            continue
        rule = Rule.model_validate(raw)
        if rule.actions is not None and action not in rule.actions:
            continue
        checks.append(
            Check(
                rule.id,
                not rule_holds(rule, facts),
                rule.outcome,
                f"{rule.rule} (lesson {lesson['id']}, accepted by {lesson.get('accepted_by')})",
                f"{rule.fact} = {json.dumps(fact_value(facts, rule.fact), default=str)} ({rule.op} {rule.value!r})",
            )
        )
    return checks
