"""Resumes that must be refused with a clear error and no effect: a replay against an old
checkpoint, one value for several interrupts, and a thread that is not waiting (a value that is
not one recorded decision: tests/test_resume_in_graph.py)."""

from __future__ import annotations

import pytest
from langgraph.types import Command

from hitl_core import leases, ledger, reviews
from hitl_core.checkpointing import ForkRefused
from hitl_core.errors import Conflict
from tests.helpers import question, refund_request


def _latest(runner, thread_id):
    return runner.snapshot("support", thread_id).config["configurable"]["checkpoint_id"]


def test_replaying_a_resume_against_an_old_checkpoint_is_refused(runner):
    result = refund_request(runner, 26)
    review = runner.show(result.reviews[0])
    runner.decide(review["id"], "approve", "sam")
    graph = runner.graph("support")
    history = list(graph.get_state_history({"configurable": {"thread_id": result.thread_id}}))
    at_gate = next(h for h in history if h.next == ("approval_gate",))
    before = _latest(runner, result.thread_id)
    with leases.lease(runner.db, result.thread_id, 30) as held:
        config = {"configurable": {**at_gate.config["configurable"], "lease_token": held.token}}
        recorded = reviews.recorded_decision(runner.db, review["id"])
        assert recorded is not None  # the genuine decision, replayed: the gate accepts it, the checkpointer not
        resume = Command(resume={runner._interrupt_id(review["id"]): {"decisions": [recorded["decision"]]}})
        with pytest.raises(ForkRefused, match="not the latest"):
            graph.invoke(resume, config, context=runner.context("support", result.thread_id), durability="sync")
    assert _latest(runner, result.thread_id) == before
    assert len([a for a in ledger.list_entries(runner.db, thread_id=result.thread_id) if a["name"] == "refund"]) == 1


def test_one_value_for_several_pending_interrupts_is_refused(runner):
    """With two interrupts pending, an answer not keyed by interrupt id is refused and changes nothing."""
    from langgraph.graph import START, StateGraph
    from langgraph.types import interrupt
    from typing_extensions import TypedDict

    class State(TypedDict, total=False):
        a: str
        b: str

    graph = StateGraph(State)
    graph.add_node("ask_a", lambda s: {"a": interrupt("first?")})
    graph.add_node("ask_b", lambda s: {"b": interrupt("second?")})
    graph.add_edge(START, "ask_a")
    graph.add_edge(START, "ask_b")
    compiled = graph.compile(checkpointer=runner.checkpointer)
    config = {"configurable": {"thread_id": "two-interrupts"}}
    compiled.invoke({}, config)
    pending = compiled.get_state(config)
    assert len(pending.interrupts) == 2
    with pytest.raises(RuntimeError, match="multiple"):
        compiled.invoke(Command(resume="yes"), config)
    after = compiled.get_state(config)
    assert after.config["configurable"]["checkpoint_id"] == pending.config["configurable"]["checkpoint_id"]
    assert {i.id for i in after.interrupts} == {i.id for i in pending.interrupts}
    done = compiled.invoke(Command(resume={i.id: i.value.upper() for i in pending.interrupts}), config)
    assert (done["a"], done["b"]) == ("FIRST?", "SECOND?")


def test_resuming_a_thread_that_is_not_waiting_is_refused(runner):
    answered = question(runner)
    with pytest.raises(Conflict, match="not waiting for an answer"):
        runner.reply(answered.thread_id, "hello again")
    result = refund_request(runner, 28)
    runner.decide(result.reviews[0], "approve", "sam")
    with runner.db.transaction() as tx:  # a stale copy of the review claims it is still pending
        tx.execute("UPDATE reviews SET status = 'pending' WHERE id = :i", {"i": result.reviews[0]})
    with pytest.raises(Conflict, match="no longer waiting"):
        runner.decide(result.reviews[0], "approve", "lee")
    assert len(ledger.list_entries(runner.db, thread_id=result.thread_id)) == 1
