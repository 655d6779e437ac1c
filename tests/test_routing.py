"""The validator's routing rules, with known inputs and expected routes."""

from __future__ import annotations

import pytest

from guardrails.routing import Check, Proposal, Signal, assess, combine_confidence, combine_risk, ladder_for
from hitl_runtime.agents import agent_policy


@pytest.fixture(scope="module")
def policy():
    return agent_policy("support")


STRONG = [
    Signal("retrieval_quality", 0.9, ""),
    Signal("evidence_agreement", 1, ""),
    Signal("validation", 1, ""),
    Signal("model_estimate", 0.9, ""),
    Signal("historical_approval", 0.8, ""),
]
CALM = {
    "customer": {"tier": "standard", "lifetime_value": 100},
    "request": {"anger": 0, "sensitive_topic": False},
    "evidence": {"top_score": 0.9, "conflict": False},
}


def route(policy, action, args=None, facts=None, confidence=None, risk=None, checks=None, **kw):
    return assess(
        policy, Proposal(action, args or {}, **kw), facts or CALM, confidence or STRONG, risk or [], checks or []
    )


def test_plain_answer_runs_automatically(policy):
    out = route(policy, "reply", {"customer_id": "c", "message": "hi"})
    assert out["route"] == "auto" and out["reasons"] == []


def test_precedence_block_over_everything(policy):
    checks = [Check("x", False, "block", "never"), Check("y", False, "escalate", "e")]
    out = route(policy, "refund", {"amount": 5000}, checks=checks, missing=["order"])
    assert out["route"] == "block"


def test_missing_information_asks_before_escalating(policy):
    assert route(policy, "refund", {"amount": 5000}, missing=["order number"])["route"] == "needs_info"
    assert route(policy, None)["route"] == "needs_info"


def test_amount_tiers_and_escalation(policy):
    small = route(policy, "refund", {"amount": 150})
    assert small["route"] == "review"
    assert small["ladder"][0]["roles"] == ["support_agent", "support_lead"]
    medium = route(policy, "refund", {"amount": 500})
    assert medium["ladder"][0]["roles"] == ["support_lead"]
    large = route(policy, "refund", {"amount": 1500})
    assert large["route"] == "escalate"
    assert [t["roles"] for t in large["ladder"]] == [["support_lead"], ["compliance_officer"]]


def test_confidence_bands(policy):
    medium = [
        Signal("retrieval_quality", 0.3, ""),
        Signal("validation", 1, ""),
        Signal("model_estimate", 0.4, ""),
        Signal("historical_approval", 0.4, ""),
        Signal("evidence_agreement", 1, ""),
    ]
    out = route(policy, "reply", {}, confidence=medium)
    assert out["route"] == "review" and any("confidence" in r for r in out["reasons"])
    low = [
        Signal("retrieval_quality", 0.0, ""),
        Signal("validation", 0.2, ""),
        Signal("model_estimate", 0.1, ""),
        Signal("historical_approval", 0.2, ""),
        Signal("evidence_agreement", 0.4, ""),
    ]
    assert route(policy, "reply", {}, confidence=low)["route"] == "escalate"


def test_high_risk_goes_to_review(policy):
    out = route(policy, "reply", {}, risk=[Signal("customer_mood", 0.4, "angry")])
    assert out["route"] == "review" and out["risk"] > 0.35


def test_declarative_rules_fire_on_facts(policy):
    facts = {**CALM, "customer": {"tier": "gold", "lifetime_value": 100}}
    out = route(policy, "reply", {}, facts=facts)
    assert out["route"] == "review"
    failed = [c["id"] for c in out["checks"] if not c["passed"]]
    assert failed == ["high_value_customer"]
    assert route(policy, "reply", {}, facts={**CALM, "request": {"legal_threat": True}})["route"] == "escalate"


def test_rejected_action_never_returns_automatically(policy):
    out = route(policy, "reply", {}, previously_rejected=True)
    assert out["route"] == "review"


def test_unknown_action_is_blocked(policy):
    assert route(policy, "wire_money", {})["route"] == "block"


def test_irreversible_ladder_requires_two_approvers(policy):
    from guardrails.policy import parse_policy
    from tests.test_policy import SUPPORT

    text = SUPPORT.replace(
        "  refund:\n    review: always\n    reversible: true", "  refund:\n    review: always\n    reversible: false"
    )
    text = text.replace("max_amount: 200}", "max_amount: 200, approvals: 2}").replace(
        "max_amount: 1000}", "max_amount: 1000, approvals: 2}"
    )
    strict = parse_policy(text)
    assert {t.approvals for t in ladder_for(strict, "refund", 100, escalated=False)} == {2}


def test_combinators():
    assert combine_confidence([Signal("a", 1, ""), Signal("b", 0, "")], {"a": 3, "b": 1}) == 0.75
    assert combine_risk([Signal("a", 0.5, ""), Signal("b", 0.5, "")]) == 0.75
    assert combine_risk([]) == 0.0
