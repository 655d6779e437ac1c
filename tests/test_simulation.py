"""Simulated reviewers and threshold sweeps (hitl_lab.simulation), on small inputs with known results.

The simulations run on the module's database through the `runner` fixture (SQLite and PostgreSQL);
each test uses its own simulated day, its own case ids and its own customers, and reads the metrics
for its day only.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from guardrails.policy import load_policy_file
from hitl_core import ledger, metrics
from hitl_core.canonical import iso, now_iso, use_clock
from hitl_core.errors import BadInput
from hitl_lab.simulation import (
    START,
    VARIANTS,
    Case,
    Reviewer,
    Truth,
    View,
    choose_thresholds,
    correction,
    ground_truth,
    judge,
    policy_with,
    routing_figures,
    simulate,
    sweep_thresholds,
    team,
    write_policies,
)
from hitl_runtime.agents import agent_policy, shipped_policy_files
from hitl_runtime.evaluation import Scenario, load_scenarios

REPO = Path(__file__).resolve().parent.parent


def refund_case(prefix: str, amount: float = 45.0) -> Case:
    """A support refund that always goes to review (support agent tier), with its own customer and order."""
    return Case(
        prefix,
        Scenario.model_validate(
            {
                "id": f"{prefix}-refund-{amount:g}",
                "agent": "support",
                "message": f"My blender arrived with a cracked jar. Can I get my ${amount:g} back?",
                "context": {
                    "customer": {"id": f"{prefix}-c-{amount:g}", "name": "Lena Park", "tier": "standard"},
                    "order": {
                        "id": f"{prefix}-o-{amount:g}",
                        "amount": amount,
                        "currency": "USD",
                        "days_since_delivery": 3,
                    },
                },
                "expected": {"route": "review", "action": "refund"},
            }
        ),
    )


def window(runner: Any, day: int) -> dict[str, Any]:
    start = START + timedelta(days=day)
    return metrics.compute(runner.db, since=iso(start), until=iso(start + timedelta(hours=23)))


class Draws:
    """A stand-in for random.Random that returns the given draws in order."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


# -- the clock -----------------------------------------------------------------------------------------
def test_use_clock_sets_the_runtime_clock_and_restores_it() -> None:
    moment = START + timedelta(minutes=5)
    with use_clock(lambda: moment):
        assert now_iso() == "2026-01-05T09:05:00.000000Z"
    assert now_iso() > "2026-01-05T09:05:00.000000Z"


# -- reviewers and ground truth ---------------------------------------------------------------------------
def test_reviewer_traits_are_checked_and_latency_is_lognormal_around_the_median() -> None:
    with pytest.raises(BadInput, match="accuracy"):
        Reviewer("x", ("support_agent",), accuracy=1.5)
    with pytest.raises(BadInput, match="latency"):
        Reviewer("x", ("support_agent",), latency_median_s=0)
    assert Reviewer("x", ("sre",), latency_median_s=90, latency_spread=0).latency(random.Random(1)) == 90
    draws = sorted(
        Reviewer("x", ("sre",), latency_median_s=100, latency_spread=0.5).latency(random.Random(i)) for i in range(201)
    )
    assert 85 < draws[100] < 115


def test_team_covers_every_role_with_two_approvers_where_needed() -> None:
    people = team(latency_median_s=100)
    roles = {r.roles[0]: [p for p in people if p.roles == r.roles] for r in people}
    assert {role: len(members) for role, members in roles.items()} == {
        "support_agent": 3,
        "support_lead": 2,
        "sre": 2,
        "ops_lead": 1,
        "compliance_officer": 3,
    }
    assert roles["compliance_officer"][0].latency_median_s == 300
    assert len([p for p in team(size=0.3) if p.roles == ("sre",)]) == 2


def test_ground_truth_comes_from_the_scenario() -> None:
    case = refund_case("gt")
    blocked = Case(
        "gt",
        case.scenario.model_copy(update={"expected": case.scenario.expected.model_copy(update={"route": "block"})}),
    )
    assert ground_truth(blocked, "refund", {"amount": 45.0}, "amount", 0.0, 1).kind == "reject"
    wrong = ground_truth(case, "reply", {"message": "hi"}, None, 0.0, 1)
    assert (wrong.kind, wrong.category) == ("reject", "wrong_action")
    assert ground_truth(case, "refund", {"amount": 45.0}, "amount", 0.0, 1) == Truth("approve")
    defect = ground_truth(case, "refund", {"amount": 45.0}, "amount", 1.0, 1)
    assert (defect.kind, defect.category, defect.args) == ("edit", "wrong_amount", {"amount": 22.5})


def test_corrections_edit_amounts_and_texts_else_reject() -> None:
    assert correction("scale_service", {"replicas": 6}, "replicas").args == {"replicas": 3}
    text = correction("reply", {"customer_id": "c", "message": "Hello."}, None)
    assert text.kind == "edit" and text.category == "tone" and text.args and text.args["message"].startswith("Hello.")
    assert correction("restart_service", {"service": "a", "env": "prod", "reason": "r"}, None).kind == "reject"


def test_judge_follows_accuracy_and_strictness() -> None:
    careful = Reviewer("r", ("support_agent",), accuracy=0.9, strictness=0.5)
    view = View("refund", {"amount": 45.0}, confidence=0.8, can_escalate=True)
    sound, fix = Truth("approve"), Truth("edit", "wrong_amount", {"amount": 22.5}, "amount too high")
    # Sees the truth (0.0 < 0.9), not held back (0.5 >= 0.5 * 0.2): approves.
    assert judge(careful, sound, view, fix, Draws(0.0, 0.5)).decision == "approve"
    # Held back (0.05 < 0.1): escalates while a tier is above, else asks the requester.
    assert judge(careful, sound, view, fix, Draws(0.0, 0.05)).decision == "escalate"
    assert judge(careful, sound, View("refund", {}, 0.8, False), fix, Draws(0.0, 0.05)).decision == "request_info"
    # Misjudges a sound proposal (0.95 >= 0.9): applies the correction it believes in.
    assert judge(careful, sound, view, fix, Draws(0.95)).args == {"amount": 22.5}
    # Misjudges a defective one: approves it (a false approval).
    assert judge(careful, fix, view, fix, Draws(0.95, 0.9)).decision == "approve"
    # Judges a defective one right: edits, with the category.
    right = judge(careful, fix, view, fix, Draws(0.1))
    assert (right.decision, right.category, right.args) == ("edit", "wrong_amount", {"amount": 22.5})
    assert judge(careful, Truth("reject", "policy_violation"), view, fix, Draws(0.1)).decision == "reject"


# -- simulations on both databases ------------------------------------------------------------------------
def test_latency_and_queueing_show_up_in_time_to_review(runner: Any) -> None:
    start = START + timedelta(days=1)
    solo = Reviewer("q-agent", ("support_agent",), accuracy=1.0, strictness=0.0, latency_median_s=600, latency_spread=0)
    cases = [refund_case("q", 45.0), refund_case("q", 40.0)]
    result = simulate(runner, cases, [solo], start=start, arrival_interval_s=60, poisson=False, defect_rate=0.0)
    assert [(d["decision"], d["outcome"], d["wait_s"]) for d in result.decisions] == [
        ("approve", "approved", 600.0),
        ("approve", "approved", 1140.0),  # arrived at 60 s, waited for the reviewer until 600 s
    ]
    report = window(runner, 1)
    assert (report["reviews"], report["approval_rate"], report["edit_rate"]) == (2, 1.0, 0.0)
    assert report["time_to_review"] == {"median_s": 870.0, "p90_s": 1140.0}
    assert report["false_approval_rate"] == 0.0
    assert result.false_approvals()["support"] == {
        "approvals": 2,
        "false_approvals": 0,
        "expected_block": 0,
        "reviewer_error": 0,
        "rate": 0.0,
    }
    rows = runner.db.read("SELECT created_at, decided_at FROM reviews WHERE thread_id = :t", {"t": cases[1].thread_id})
    assert rows == [
        {"created_at": iso(start + timedelta(seconds=60)), "decided_at": iso(start + timedelta(seconds=1200))}
    ]


def test_a_careful_reviewer_corrects_a_defect_by_editing(runner: Any) -> None:
    careful = Reviewer(
        "e-agent", ("support_agent",), accuracy=1.0, strictness=0.0, latency_median_s=60, latency_spread=0
    )
    case = refund_case("e")
    result = simulate(runner, [case], [careful], start=START + timedelta(days=2), defect_rate=1.0)
    assert [(d["decision"], d["outcome"], d["truth"]) for d in result.decisions] == [
        ("edit", "approved_with_edits", "edit")
    ]
    assert [e["args"]["amount"] for e in ledger.list_entries(runner.db, case.thread_id)] == [22.5]
    report = window(runner, 2)
    assert (report["edit_rate"], report["correction_categories"]) == (1.0, {"wrong_amount": 1})
    assert result.false_approvals()["all"]["false_approvals"] == 0


def test_a_wrong_approval_is_a_false_approval_and_becomes_an_incident(runner: Any) -> None:
    careless = Reviewer(
        "f-agent", ("support_agent",), accuracy=0.0, strictness=0.0, latency_median_s=60, latency_spread=0
    )
    result = simulate(runner, [refund_case("f")], [careless], start=START + timedelta(days=3), defect_rate=1.0)
    assert result.false_approvals()["support"]["false_approvals"] == 1
    assert result.false_approvals()["support"]["reviewer_error"] == 1
    report = window(runner, 3)
    assert (report["false_approval_rate"], report["post_approval_incident_rate"]) == (1.0, 1.0)
    incident = runner.db.read(
        "SELECT i.at FROM incidents i JOIN action_ledger a ON a.id = i.action_id WHERE a.thread_id = :t",
        {"t": refund_case("f").thread_id},
    )
    assert incident == [{"at": iso(START + timedelta(days=3, seconds=60 + 3600))}]


def test_a_review_nobody_reaches_by_its_deadline_expires_with_the_policy_fallback(runner: Any) -> None:
    slow = Reviewer(
        "x-agent", ("support_agent",), accuracy=1.0, strictness=0.0, latency_median_s=5 * 3600, latency_spread=0
    )
    case = refund_case("x")
    result = simulate(runner, [case], [slow], start=START + timedelta(days=4), defect_rate=0.0)
    assert [d["outcome"] for d in result.decisions] == ["too late (expired)"]
    report = window(runner, 4)
    assert (report["expiry_rate"], report["approval_rate"], report["time_to_review"]["median_s"]) == (1.0, 0.0, None)
    row = runner.db.read("SELECT decided_at, decided_by FROM reviews WHERE thread_id = :t", {"t": case.thread_id})
    assert row == [{"decided_at": iso(START + timedelta(days=4, hours=4, milliseconds=1)), "decided_by": "deadline"}]
    assert ledger.list_entries(runner.db, case.thread_id) == []  # silence never approves


def test_two_approvers_are_two_different_reviewers(runner: Any) -> None:
    scenario = next(s for s in load_scenarios(REPO / "tests" / "scenarios" / "ops.jsonl") if s.id == "ops-x-017")
    pair = [
        Reviewer(name, ("sre",), accuracy=1.0, strictness=0.0, latency_median_s=300, latency_spread=0)
        for name in ("t-sre-a", "t-sre-b")
    ]
    result = simulate(runner, [Case("two", scenario)], pair, start=START + timedelta(days=5), defect_rate=0.0)
    assert [(d["reviewer"], d["outcome"], d["wait_s"]) for d in result.decisions] == [
        ("t-sre-a", "pending", 300.0),
        ("t-sre-b", "approved", 600.0),
    ]
    assert window(runner, 5)["time_to_review"]["median_s"] == 600.0


def test_simulate_refuses_a_database_with_pending_reviews(runner: Any) -> None:
    pending = runner.run(
        "support", refund_case("p").scenario.message, user="eve", context=refund_case("p").scenario.context
    )
    try:
        with pytest.raises(BadInput, match="pending reviews"):
            simulate(runner, [refund_case("p2")], team())
    finally:
        runner.decide(pending.reviews[0], "reject", "sam", comment="test over")


# -- threshold sweeps -------------------------------------------------------------------------------------
def test_policy_with_changes_thresholds_and_can_drop_the_review_rules() -> None:
    shipped = agent_policy("support")
    policy = policy_with("support", auto_min_confidence=0.2, auto_max_risk=0.9, drop_review_rules=True)
    assert policy.thresholds.model_dump() == {
        "auto_min_confidence": 0.2,
        "auto_max_risk": 0.9,
        "review_min_confidence": 0.2,  # lowered so the bands do not cross
    }
    assert [r.id for r in policy.rules] == [r.id for r in shipped.rules if r.outcome != "review"]
    assert policy.actions == shipped.actions
    with pytest.raises(BadInput, match="support"):
        policy_with("support", auto_min_confidence=1.5)


def test_written_policies_are_what_the_agents_load(tmp_path: Path) -> None:
    policy = policy_with("ops", auto_min_confidence=0.7, auto_max_risk=0.25)
    folder = write_policies(tmp_path / "policies", [policy])
    assert sorted(p.name for p in folder.glob("*.yaml")) == ["compliance.yaml", "ops.yaml", "support.yaml"]
    from hitl_core.settings import Settings
    from hitl_runtime.runner import Runner

    runner = Runner(Settings(database_url=f"sqlite:///{tmp_path}/p.db", policy_dir=str(folder)))
    try:
        assert runner.policy("ops") == policy
        assert runner.policy("support") == load_policy_file(shipped_policy_files()["support"])
    finally:
        runner.close()


def test_routing_figures() -> None:
    cases = [
        {"id": "a", "expected_route": "auto", "route": "auto"},
        {"id": "b", "expected_route": "review", "route": "auto"},
        {"id": "c", "expected_route": "review", "route": "escalate"},
        {"id": "d", "expected_route": "needs_info", "route": "needs_info"},
    ]
    assert routing_figures(cases) == {
        "n": 4,
        "review_load": 0.25,
        "auto_share": 0.5,
        "false_auto": 1,
        "false_auto_cases": ["b"],
        "route_accuracy": 0.5,
    }


def test_sweep_on_three_cases() -> None:
    shared = {
        "auto": {"message": "What are your customer support hours?", "tier": "standard", "route": "auto"},
        "gold": {
            "message": "Why was I charged twice for my subscription this month?",
            "tier": "gold",
            "route": "review",
        },
    }
    cases = [
        Scenario.model_validate(
            {
                "id": f"sw-{key}",
                "agent": "support",
                "message": spec["message"],
                "context": {
                    "customer": {"id": f"sw-{key}", "name": "Mia Chen", "tier": spec["tier"], "lifetime_value": 100}
                },
                "expected": {"route": spec["route"], "action": "reply"},
            }
        )
        for key, spec in shared.items()
    ] + [refund_case("sw").scenario]
    rows = sweep_thresholds({"support": cases}, [0.3, 0.99], [0.9])
    figures = {
        (r["variant"], r["auto_min_confidence"], r["auto_max_risk"]): (r["review_load"], r["false_auto"]) for r in rows
    }
    assert figures == {
        ("shipped rules", 0.3, 0.9): (0.6667, 0),
        ("shipped rules", 0.99, 0.9): (1.0, 0),
        ("shipped rules", 0.62, 0.35): (0.6667, 0),
        ("thresholds alone", 0.3, 0.9): (0.3333, 1),  # the gold customer's reply runs without review
        ("thresholds alone", 0.99, 0.9): (1.0, 0),
        ("thresholds alone", 0.62, 0.35): (0.3333, 1),
    }
    assert [r["shipped"] for r in rows] == [False, False, True] * 2
    chosen = choose_thresholds(rows)["support"]
    assert (chosen["auto_min_confidence"], chosen["auto_max_risk"]) == (0.62, 0.35)  # ties go to the shipped point


def test_choose_thresholds_prefers_less_load_then_a_wider_safety_net() -> None:
    def row(
        variant: str, confidence: float, risk: float, load: float, false_auto: int, shipped: bool = False
    ) -> dict[str, Any]:
        return {
            "agent": "a",
            "variant": variant,
            "auto_min_confidence": confidence,
            "auto_max_risk": risk,
            "review_load": load,
            "false_auto": false_auto,
            "shipped": shipped,
        }

    shipped_rules, alone = VARIANTS
    rows = [
        row(shipped_rules, 0.6, 0.4, 0.5, 0, shipped=True),
        row(alone, 0.6, 0.4, 0.3, 4, shipped=True),
        row(shipped_rules, 0.5, 0.6, 0.4, 1),  # less load, but lets a risky case through: not safe
        row(alone, 0.5, 0.6, 0.2, 6),
        row(shipped_rules, 0.7, 0.2, 0.5, 0),  # same load, catches more on its own: chosen
        row(alone, 0.7, 0.2, 0.4, 2),
        row(shipped_rules, 0.9, 0.2, 0.8, 0),
        row(alone, 0.9, 0.2, 0.8, 0),
    ]
    chosen = choose_thresholds(rows)["a"]
    assert (chosen["auto_min_confidence"], chosen["auto_max_risk"]) == (0.7, 0.2)
    assert chosen["chosen_figures"] == {
        shipped_rules: {"review_load": 0.5, "false_auto": 0},
        alone: {"review_load": 0.4, "false_auto": 2},
    }
    with pytest.raises(BadInput, match="shipped"):
        choose_thresholds([r for r in rows if not r["shipped"]])
