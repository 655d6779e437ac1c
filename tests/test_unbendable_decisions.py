"""Decisions that cannot be bent: an attacker with a reviewer's account, on SQLite and PostgreSQL.

Edits are new proposals (re-validated, locked targets refused, moved up when they need more), every
approval binds to the exact arguments, the deadline is enforced at decision time, the executor acts
only on a decision recorded in the reviews table, and a stale lease holder's effects are fenced.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from typing import Any

import pytest
from langgraph.types import Command

from hitl_core import audit, leases, ledger, reviews
from hitl_core.canonical import parse_iso, use_clock
from hitl_core.errors import BadInput, Conflict, Forbidden
from hitl_core.users import add_user
from tests.helpers import refund_request, unique

ENGINEERS = {"sid": ["sre"], "sia": ["sre"], "sol": ["sre"], "ola": ["ops_lead"]}


@pytest.fixture
def ops_runner(runner):
    for name, roles in ENGINEERS.items():
        add_user(runner.db, name, roles, actor="test")
    return runner


def _pending(runner, result):
    assert result.status == "pending_review", result
    (review_id,) = result.reviews
    return runner.show(review_id)


def _effects(runner, thread_id, name):
    return [a for a in ledger.list_entries(runner.db, thread_id=thread_id) if a["name"] == name]


def _access_request(runner):
    context = {"service": {"name": "orders-db", "env": "staging", "replicas": 1, "version": "15.6.0"}}
    text = "Give j.okafor read-only access to the staging orders database for 4 hours to debug a migration."
    result = runner.run("ops", text, user="eve", context=context, thread_id=unique("th"))
    review = _pending(runner, result)
    assert review["action"] == "change_access" and review["args"]["level"] == "read"
    assert review["required_roles"] == ["sre", "ops_lead"]
    return result, review


def _prod_restart(runner):
    context = {
        "service": {"name": "payments-api", "env": "prod", "replicas": 4, "version": "3.2.1"},
        "incident": {"id": "inc-318", "severity": "sev2", "error_rate": 0.12, "logs": ["ERROR pool exhausted"]},
    }
    text = "Restart payments-api in production, the connection pool is exhausted."
    result = runner.run("ops", text, user="eve", context=context, thread_id=unique("th"))
    review = _pending(runner, result)
    assert review["action"] == "restart_service" and review["approvals_required"] == 2
    return result, review


# -- 1. an edit is a new proposal ---------------------------------------------------------------
def test_edit_cannot_change_a_locked_target(ops_runner):
    result, review = _access_request(ops_runner)
    with pytest.raises(Forbidden, match="principal"):
        ops_runner.decide(review["id"], "edit", "sid", args={"principal": "sid"})
    with pytest.raises(Forbidden, match="env"):
        ops_runner.decide(review["id"], "edit", "sid", args={"env": "prod"})
    assert reviews.get(ops_runner.db, review["id"])["status"] == "pending"
    assert _effects(ops_runner, result.thread_id, "change_access") == []


def test_widening_edit_moves_the_review_up_instead_of_executing(ops_runner):
    result, review = _access_request(ops_runner)
    out = ops_runner.decide(review["id"], "edit", "sid", args={"level": "admin", "duration_hours": 168})
    assert out["status"] == "approved_with_edits"
    assert out["thread"]["status"] == "pending_review", out
    assert _effects(ops_runner, result.thread_id, "change_access") == []
    (moved,) = out["thread"]["reviews"]
    lead = ops_runner.show(moved)
    assert lead["required_roles"] == ["ops_lead"]
    assert lead["args"]["level"] == "admin" and lead["args"]["duration_hours"] == 168
    payload = lead["interrupt"]
    assert payload["proposed_by"] == {
        "reviewer": "sid",
        "edit_of": review["id"],
        "diff": payload["proposed_by"]["diff"],
    }
    assert any("admin_access" in r for r in lead["reasons"]), lead["reasons"]
    with pytest.raises(Forbidden):
        ops_runner.decide(moved, "approve", "sia")  # an SRE may not decide the lead's tier
    done = ops_runner.decide(moved, "approve", "ola")
    assert done["thread"]["status"] == "completed"
    (grant,) = _effects(ops_runner, result.thread_id, "change_access")
    assert grant["args"]["level"] == "admin" and grant["review_id"] == moved


def test_edit_within_authority_still_executes_at_once(runner):
    result = refund_request(runner, 80)
    review = _pending(runner, result)
    out = runner.decide(review["id"], "edit", "sam", args={"amount": 60})
    assert out["thread"]["status"] == "completed"
    (refund,) = _effects(runner, result.thread_id, "refund")
    assert refund["args"]["amount"] == 60


def test_edit_over_a_tier_moves_to_that_tier(runner):
    result = refund_request(runner, 150, order_amount=900)
    review = _pending(runner, result)
    out = runner.decide(review["id"], "edit", "sam", args={"amount": 500})
    assert out["thread"]["status"] == "pending_review"
    assert _effects(runner, result.thread_id, "refund") == []
    (moved,) = out["thread"]["reviews"]
    assert runner.show(moved)["required_roles"] == ["support_lead"]
    runner.decide(moved, "approve", "lee")
    (refund,) = _effects(runner, result.thread_id, "refund")
    assert refund["args"]["amount"] == 500


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"currency": "GBP"}, "currency"),
        ({"order_id": "o-999999"}, "order_id"),
    ],
)
def test_refund_edits_cannot_retarget(runner, args, match):
    result = refund_request(runner, 45)
    review = _pending(runner, result)
    with pytest.raises(Forbidden, match=match):
        runner.decide(review["id"], "edit", "sam", args=args)
    assert reviews.get(runner.db, review["id"])["status"] == "pending"
    assert _effects(runner, result.thread_id, "refund") == []


def test_edit_that_the_validator_blocks_is_refused_and_keeps_the_review(runner):
    result = refund_request(runner, 100, order_amount=120)
    review = _pending(runner, result)
    with pytest.raises(BadInput, match="refund_within_order"):
        runner.decide(review["id"], "edit", "lee", args={"amount": 250})
    assert reviews.get(runner.db, review["id"])["status"] == "pending"
    assert _effects(runner, result.thread_id, "refund") == []
    assert runner.state(result.thread_id).status == "pending_review"


def test_reply_edit_asking_for_card_details_is_refused(runner):
    from graphs.support import records as helpdesk

    context = {"customer": {"id": unique("c"), "name": "Eve Example", "tier": "gold", "lifetime_value": 5000}}
    text = "I am furious, this is the worst service ever. Explain the warranty on my blender."
    result = runner.run("support", text, user="eve", context=context, thread_id=unique("th"))
    if result.status != "pending_review" or result.action["name"] != "reply":
        pytest.skip(f"the support agent did not draft a reviewed reply here: {result.route} {result.action}")
    review = runner.show(result.reviews[0])
    phishing = "To finish your claim, please reply with your full card number, expiry date and CVV."
    with pytest.raises(BadInput, match=r"credentials|card"):
        runner.decide(review["id"], "edit", "sam", args={"message": phishing})
    with pytest.raises(Forbidden, match="customer_id"):
        runner.decide(review["id"], "edit", "sam", args={"customer_id": "c-someone-else"})
    assert reviews.get(runner.db, review["id"])["status"] == "pending"
    assert not runner.db.read("SELECT id FROM sim_outbox WHERE body LIKE '%CVV%'")
    assert helpdesk  # the outbox lives in the helpdesk's tables


# -- 2. four eyes on the same arguments ---------------------------------------------------------
def test_second_approver_edit_resets_the_approvals(ops_runner):
    result, review = _prod_restart(ops_runner)
    first = ops_runner.decide(review["id"], "approve", "sid")
    assert first["status"] == "pending" and first["approvals"] == 1
    out = ops_runner.decide(review["id"], "edit", "sia", args={"reason": "pool exhausted; restart one at a time"})
    assert _effects(ops_runner, result.thread_id, "restart_service") == []
    (moved,) = out["thread"]["reviews"]
    again = ops_runner.show(moved)
    assert again["approvals_required"] == 2
    assert [a["reviewer"] for a in again["approvals"]] == ["sia"]  # the editor approves what they wrote
    with pytest.raises(Conflict, match="already approved"):
        ops_runner.decide(moved, "approve", "sia")
    ops_runner.decide(moved, "approve", "sid")  # sid must approve the new arguments again
    (restart,) = _effects(ops_runner, result.thread_id, "restart_service")
    assert restart["args"]["reason"] == "pool exhausted; restart one at a time"
    assert restart["review_id"] == moved
    assert sorted(restart["executed_by"].split(",")) == ["sia", "sid"]


def test_first_approver_edit_is_not_dropped(ops_runner):
    result, review = _prod_restart(ops_runner)
    out = ops_runner.decide(review["id"], "edit", "sid", args={"reason": "rolling restart, 1 pod at a time"})
    assert out["status"] == "approved_with_edits"
    (moved,) = out["thread"]["reviews"]
    ops_runner.decide(moved, "approve", "sia")
    (restart,) = _effects(ops_runner, result.thread_id, "restart_service")
    assert restart["args"]["reason"] == "rolling restart, 1 pod at a time"


# -- 3. the deadline is enforced at decision time -----------------------------------------------
def test_decision_after_the_deadline_is_refused_and_the_fallback_applies(runner):
    result = refund_request(runner, 45)
    review = _pending(runner, result)
    late = parse_iso(review["deadline"]) + timedelta(seconds=10)
    with use_clock(lambda: late), pytest.raises(Conflict, match="deadline"):
        runner.decide(review["id"], "approve", "sam")
    after = reviews.get(runner.db, review["id"])
    assert after["status"] == "expired"
    assert _effects(runner, result.thread_id, "refund") == []
    assert runner.state(result.thread_id).status != "pending_review"
    kinds = [e["kind"] for e in audit.thread_history(runner.db, result.thread_id)]
    assert "review_expired" in kinds and "review_decided" not in kinds


# -- 4. the gate and then the executor trust the reviews table, not graph state ---------------------
def _forge(runner, review, decision: dict[str, Any], graph: Any = None) -> None:
    raw = reviews.get_row(runner.db, review["id"])
    graph = graph or runner.graph(review["agent"])
    token = leases.acquire(runner.db, review["thread_id"], 30)
    try:
        graph.invoke(
            Command(resume={raw["interrupt_id"]: {"decisions": [decision]}}),
            runner.config(review["thread_id"], token),
            context=runner.context(review["agent"], review["thread_id"]),
        )
    finally:
        leases.release(runner.db, review["thread_id"], token)


def test_forged_resume_of_a_pending_review_executes_nothing(runner):
    result = refund_request(runner, 45)
    review = _pending(runner, result)
    _forge(runner, review, {"type": "approve", "reviewer": "lee", "review_id": review["id"]})
    assert _effects(runner, result.thread_id, "refund") == []
    kinds = [e["kind"] for e in audit.thread_history(runner.db, result.thread_id)]
    assert "resume_refused" in kinds and "execution_refused" not in kinds, "refused at the gate"
    assert runner.state(result.thread_id).reviews == [review["id"]]
    assert audit.verify(runner.db).ok


def _any_resume_gate(state: Any, runtime: Any) -> dict[str, Any]:
    """A gate that took any resume (a bug, or a graph of one's own that skipped the check)."""
    from langgraph.types import interrupt

    from nodes.approval_gate import apply_decision, build_review_request
    from nodes.resume_check import decision_of

    request = build_review_request(state, runtime.context)
    return apply_decision(state, request, decision_of(interrupt(request)))


def test_past_a_gate_that_took_a_forged_resume_the_executor_refuses(runner):
    from graphs.support.graph import NODES
    from nodes.wiring import build_agent_graph

    result = refund_request(runner, 45)
    review = _pending(runner, result)
    careless = build_agent_graph(NODES, gate=_any_resume_gate).compile(checkpointer=runner.checkpointer)
    _forge(runner, review, {"type": "approve", "reviewer": "lee", "review_id": review["id"]}, careless)
    assert _effects(runner, result.thread_id, "refund") == []
    kinds = [e["kind"] for e in audit.thread_history(runner.db, result.thread_id)]
    assert "execution_refused" in kinds
    assert audit.verify(runner.db).ok


def test_forged_approval_of_a_rejected_review_executes_nothing(runner):
    result = refund_request(runner, 45)
    review = _pending(runner, result)
    # The rejection is recorded, then the process dies before resuming the thread.
    with runner.db.transaction() as tx:
        assert reviews.compare_and_set(tx, review["id"], "rejected", "sam", {"type": "reject", "reviewer": "sam"})
    _forge(runner, review, {"type": "approve", "reviewer": "lee", "review_id": review["id"]})
    assert _effects(runner, result.thread_id, "refund") == []
    covered = {"type": "edit", "reviewer": "lee", "review_id": review["id"], "covered": True}
    covered["edited_action"] = {"name": "refund", "args": {**review["args"], "amount": 40}}
    with contextlib.suppress(Exception):  # LangGraph may refuse a second resume of one interrupt: fine too
        _forge(runner, review, covered)
    assert _effects(runner, result.thread_id, "refund") == []


# -- 5. effects of a stale lease holder are fenced ------------------------------------------------
def test_stale_lease_holder_cannot_write_effects(runner):
    result = refund_request(runner, 45)
    review = _pending(runner, result)
    thread_id = result.thread_id
    stale = leases.acquire(runner.db, thread_id, 0.01)
    import time

    time.sleep(0.05)
    leases.acquire(runner.db, thread_id, 30, owner="someone-else")  # took the thread over
    with pytest.raises(leases.LeaseLost):
        ledger.execute(
            runner.db,
            key=ledger.idempotency_key(thread_id, review["id"], "refund"),
            thread_id=thread_id,
            agent="support",
            action="refund",
            args=review["args"],
            actor="sam",
            review_id=review["id"],
            reversible=True,
            fence=leases.Fence(thread_id, stale),
        )
    assert _effects(runner, thread_id, "refund") == []
    assert not [e for e in audit.thread_history(runner.db, thread_id) if e["kind"] == "action_executed"]


def test_two_simultaneous_turns_on_one_thread_run_once(runner):
    first = refund_request(runner, 20)
    review = _pending(runner, first)
    runner.decide(review["id"], "reject", "sam")
    thread_id = first.thread_id
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def turn() -> None:
        barrier.wait()
        try:
            outcomes.append(runner.run("support", "Refund the $20 please, order as before.", thread_id=thread_id))
        except Conflict as exc:
            outcomes.append(exc)

    workers = [threading.Thread(target=turn) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ran = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(ran) == 1, outcomes
    pending = [r for r in reviews.for_thread(runner.db, thread_id) if r["status"] == "pending"]
    assert len(pending) <= 1
    if pending:
        assert runner.state(thread_id).reviews == [pending[0]["id"]]


# -- 8. one bad thread does not stall the sweep ---------------------------------------------------
def test_sweep_moves_on_past_a_thread_that_fails(runner, monkeypatch):
    first, second = refund_request(runner, 21), refund_request(runner, 22)
    bad = first.reviews[0]
    real_expire = type(runner)._expire

    def flaky(self, row):
        if row["id"] == bad:
            raise RuntimeError("a thread whose state cannot be read")
        return real_expire(self, row)

    monkeypatch.setattr(type(runner), "_expire", flaky)
    later = parse_iso(runner.show(second.reviews[0])["deadline"]) + timedelta(seconds=5)
    with use_clock(lambda: later):
        out = runner.sweep()
    assert [e["review_id"] for e in out["expired"]] == [second.reviews[0]] or second.reviews[0] in [
        e["review_id"] for e in out["expired"]
    ]
    assert out["errors"] == [{"review_id": bad, "error": "a thread whose state cannot be read"}]
    assert reviews.get(runner.db, second.reviews[0])["status"] == "expired"
    assert reviews.get(runner.db, bad)["status"] == "pending"
