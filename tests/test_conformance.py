"""The promises, as one conformance suite run against every agent, on SQLite and PostgreSQL.

In the spirit of LangGraph's checkpointer conformance tests: whatever an agent does, the runtime
under it must keep the same promises. Each agent contributes a `Case`: a request that its policy
sends to a human with one approver, the accounts allowed to decide it, and (where the agent has
one) a request that needs two distinct approvers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from examples import purchasing_agent, travel_desk
from hitl_core import audit, ledger, reviews
from hitl_core.canonical import parse_iso, use_clock
from hitl_core.errors import Conflict, Forbidden
from hitl_core.users import add_user
from hitl_runtime.agents import register_agent
from tests.helpers import unique


@dataclass(frozen=True)
class Case:
    """What the suite needs to know about one agent."""

    agent: str
    request: Callable[[], tuple[str, dict[str, Any]]]
    """A fresh request (message, context) that the agent's policy sends to one approver."""
    reviewers: tuple[str, str]
    """Two distinct accounts that may decide it."""
    roles: tuple[str, ...]
    two_approvers: Callable[[], tuple[str, dict[str, Any]]] | None = None
    """A fresh request needing two distinct approvers (an irreversible or regulated action), if any."""


def _support() -> tuple[str, dict[str, Any]]:
    order = "o-" + unique("c")[2:]
    context = {
        "customer": {"id": unique("c"), "name": "Eve Example", "tier": "standard", "lifetime_value": 150},
        "order": {"id": order, "amount": 45, "currency": "USD", "days_since_delivery": 3},
    }
    return f"My kettle arrived broken. Can I get my $45 back for order {order}?", context


def _ops_access() -> tuple[str, dict[str, Any]]:
    context = {"service": {"name": "orders-db", "env": "staging", "replicas": 1, "version": "15.6.0"}}
    return "Give j.okafor read-only access to the staging orders database for 4 hours to debug a migration.", context


def _ops_restart() -> tuple[str, dict[str, Any]]:
    context = {
        "service": {"name": "payments-api", "env": "prod", "replicas": 4, "version": "3.2.1"},
        "incident": {"id": unique("inc"), "severity": "sev2", "error_rate": 0.12, "logs": ["ERROR pool exhausted"]},
    }
    return "Restart payments-api in production, the connection pool is exhausted.", context


def _compliance() -> tuple[str, dict[str, Any]]:
    context = {
        "document": "Clause 7.2: Vendor may transfer Customer Personal Data to sub-processors located in the United "
        "States without further notice.",
        "jurisdiction": "EU",
        "data_categories": ["contact", "purchase_history"],
    }
    return "Does this vendor clause let us send customer records to a US subprocessor without new consent?", context


def _compliance_regulated() -> tuple[str, dict[str, Any]]:
    context = {
        "document": "name,ssn,diagnosis\nJohn Roe,123-45-6789,type 2 diabetes",
        "jurisdiction": "US",
        "data_categories": ["ssn", "health"],
    }
    return "Check this export for problems before we share it with the analytics partner.", context


def _trip(cost: int) -> Callable[[], tuple[str, dict[str, Any]]]:
    def make() -> tuple[str, dict[str, Any]]:
        return "Book my trip to the Lisbon office", {"traveller": unique("tr"), "destination": "Lisbon", "cost": cost}

    return make


def _order(amount: int) -> Callable[[], tuple[str, dict[str, Any]]]:
    def make() -> tuple[str, dict[str, Any]]:
        return f"Order a standing desk from Acme for {amount}", {}

    return make


CASES = [
    Case("support", _support, ("sam", "sue"), ("support_agent",)),
    Case("ops", _ops_access, ("sid", "sia"), ("sre",), two_approvers=_ops_restart),
    Case("compliance", _compliance, ("olga", "omar"), ("compliance_officer",), two_approvers=_compliance_regulated),
    # Agents of one's own (`examples/`): a hand-written graph calling `request_approval`, and a
    # `create_agent` graph behind the `GovernedActions` middleware.
    Case("travel", _trip(900), ("tia", "tim"), ("travel_manager",), two_approvers=_trip(8000)),
    Case("purchasing", _order(650), ("bea", "ben"), ("buyer",), two_approvers=_order(8000)),
]
OWN_AGENTS = {"travel": travel_desk, "purchasing": purchasing_agent}
"""Registered in this process, and through HITL_AGENTS for the command lines the suite starts."""


@pytest.fixture(params=CASES, ids=lambda c: c.agent)
def case(request, runner, monkeypatch) -> Case:
    spec: Case = request.param
    if spec.agent in OWN_AGENTS:
        register_agent(spec.agent, OWN_AGENTS[spec.agent])
        monkeypatch.setenv("HITL_AGENTS", ",".join(m.__name__ for m in OWN_AGENTS.values()))
    for name in spec.reviewers:
        add_user(runner.db, name, list(spec.roles), actor="test")
    add_user(runner.db, "requester-reviewer", ["end_user", *spec.roles], actor="test")
    return spec


def _pending(runner, case: Case, make=None, user: str = "eve") -> dict[str, Any]:
    message, context = (make or case.request)()
    result = runner.run(case.agent, message, user=user, context=context, thread_id=unique("th"))
    assert result.status == "pending_review", (case.agent, result)
    return runner.show(result.reviews[0])


def _effects(runner, thread_id: str) -> list[dict[str, Any]]:
    return ledger.list_entries(runner.db, thread_id=thread_id)


def test_one_decision_when_two_reviewers_race(runner, case):
    review = _pending(runner, case)
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def decide(name: str) -> None:
        barrier.wait()
        try:
            outcomes.append(runner.decide(review["id"], "approve", name))
        except Conflict as exc:
            outcomes.append(exc)

    racers = [threading.Thread(target=decide, args=(name,)) for name in case.reviewers]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert "already decided" in str(lost[0]) or "busy" in str(lost[0]) or "moved on" in str(lost[0])
    assert len(_effects(runner, review["thread_id"])) <= 1
    assert reviews.get(runner.db, review["id"])["decided_by"] == won[0]["decided_by"]


def test_decision_binds_to_the_payload_shown(runner, case):
    review = _pending(runner, case)
    with pytest.raises(Conflict, match="changed since it was shown"):
        runner.decide(review["id"], "approve", case.reviewers[0], seen_hash="0" * 64)
    assert reviews.get(runner.db, review["id"])["status"] == "pending"
    assert _effects(runner, review["thread_id"]) == []


def test_requester_cannot_approve_their_own_request(runner, case):
    review = _pending(runner, case, user="requester-reviewer")
    with pytest.raises(Forbidden, match="made this request"):
        runner.decide(review["id"], "approve", "requester-reviewer")
    assert _effects(runner, review["thread_id"]) == []


def test_two_distinct_approvers_where_the_policy_asks_for_them(runner, case):
    if case.two_approvers is None:
        pytest.skip(f"the {case.agent} policy has no action needing two approvers")
    review = _pending(runner, case, make=case.two_approvers)
    if review["approvals_required"] < 2:  # the first tier may need one: escalate to the two-person tier
        out = runner.decide(review["id"], "escalate", case.reviewers[0], comment="needs the two-person tier")
        review = runner.show(out["thread"]["reviews"][0])
    assert review["approvals_required"] >= 2
    first, second = case.reviewers
    approvers = [n for n in (first, second) if set(runner.show(review["id"])["required_roles"]) & set(case.roles)]
    assert len(approvers) == 2, review["required_roles"]
    assert runner.decide(review["id"], "approve", first)["status"] == "pending"
    with pytest.raises(Conflict, match="already approved"):
        runner.decide(review["id"], "approve", first)
    assert _effects(runner, review["thread_id"]) == []
    assert runner.decide(review["id"], "approve", second)["status"] == "approved"
    (effect,) = [e for e in _effects(runner, review["thread_id"]) if e["review_id"] == review["id"]]
    assert sorted(effect["executed_by"].split(",")) == sorted([first, second])


def test_expiry_never_approves(runner, case):
    review = _pending(runner, case)
    policy = runner.policy(case.agent)
    late = parse_iso(review["deadline"]) + timedelta(seconds=1)
    with use_clock(lambda: late):
        runner.sweep()
    after = reviews.get(runner.db, review["id"])
    assert after["status"] == "expired"
    if policy.fallback(review["action"]) != "approve":
        assert _effects(runner, review["thread_id"]) == []


def test_exactly_once_after_a_kill_inside_execution(runner, settings, case):
    review = _pending(runner, case)
    env = {
        **os.environ,
        "HITL_DATABASE_URL": settings.database_url,
        "HITL_RESUME_GRACE_SECONDS": "0",
        "HITL_LEASE_SECONDS": "1",
        "HITL_CRASH_AT": "inside_execution",
    }
    command = [sys.executable, "-m", "hitl_cli.main", "decide", review["id"], "approve", "--as", case.reviewers[0]]
    crashed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -9, crashed.stderr
    assert _effects(runner, review["thread_id"]) == []
    time.sleep(1.2)  # the killed process's lease lapses
    runner.sweep()
    runner.sweep()
    assert len([e for e in _effects(runner, review["thread_id"]) if e["review_id"] == review["id"]]) == 1


def test_audit_chain_verifies_after_all_of_it(runner, case):
    review = _pending(runner, case)
    runner.decide(review["id"], "approve", case.reviewers[0])
    assert audit.verify(runner.db).ok
