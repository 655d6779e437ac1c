"""A model that proposes several actions in one answer: each gets its own review, none is dropped.

The support agent is given a model whose one answer holds two side-effecting tool calls (a refund
and an account suspension, both reviewed by policy). They are reviewed one after the other, each
decided and executed on its own; a rejected first one does not hide the second; a blocked one says
what it leaves undone. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from hitl_core import ledger, reviews
from hitl_core.offline_model import OfflineChatModel
from hitl_runtime.runner import Runner
from tests.helpers import unique


def _context() -> dict[str, Any]:
    return {
        "customer": {"id": unique("c"), "name": "Eve", "tier": "standard", "lifetime_value": 300},
        "order": {"id": unique("o"), "amount": 40, "days_since_delivery": 3, "item": "kettle"},
    }


def _two_actions(context: dict[str, Any], calls: list[int]) -> Any:
    """A model whose every answer proposes a refund and an account suspension at once."""

    def respond(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
        calls.append(1)
        refund = {"order_id": context["order"]["id"], "amount": 40, "currency": "USD", "reason": "damaged kettle"}
        suspend = {"customer_id": context["customer"]["id"], "status": "suspended", "reason": "asked to pause"}
        return AIMessage(
            "Refund and pause the account.\nCONFIDENCE: 0.90",
            tool_calls=[
                {"name": "refund", "args": refund, "id": "call_refund"},
                {"name": "change_account_status", "args": suspend, "id": "call_status"},
            ],
        )

    return respond


def _runner(settings: Any, runner: Runner, context: dict[str, Any], calls: list[int]) -> Runner:
    return Runner(settings, model_factory=lambda agent: OfflineChatModel(responder=_two_actions(context, calls)))


def _pending(db: Any, thread_id: str) -> list[dict[str, Any]]:
    return [r for r in reviews.for_thread(db, thread_id) if r["status"] == "pending"]


def test_two_actions_in_one_answer_get_two_reviews_and_two_effects(settings, runner):
    context, calls = _context(), []
    agent = _runner(settings, runner, context, calls)
    thread = unique("two")
    first = agent.run(
        "support",
        "My kettle broke; refund it and pause my account please",
        user="eve",
        thread_id=thread,
        context=context,
    )
    assert first.status == "pending_review", first
    (refund_review,) = _pending(agent.db, thread)
    assert refund_review["action"] == "refund"

    after_first = agent.decide(refund_review["id"], "approve", "sam")
    assert after_first["thread"]["status"] == "pending_review"  # the second action now waits for its own review
    (status_review,) = _pending(agent.db, thread)
    assert status_review["action"] == "change_account_status" and status_review["id"] != refund_review["id"]

    done = agent.decide(status_review["id"], "approve", "lee")
    assert done["thread"]["status"] == "completed"
    effects = sorted(e["name"] for e in ledger.list_entries(agent.db, thread_id=thread))
    assert effects == ["change_account_status", "refund"]
    assert len(calls) == 1  # one model answer, two proposals: the second is not a second model call
    reply = agent.state(thread).reply or ""
    assert "refund" in reply.lower() and "account" in reply.lower(), reply
    agent.close()


def test_a_rejected_first_action_does_not_drop_the_second(settings, runner):
    context, calls = _context(), []
    agent = _runner(settings, runner, context, calls)
    thread = unique("two")
    agent.run("support", "Refund my kettle and pause my account", user="eve", thread_id=thread, context=context)
    (refund_review,) = _pending(agent.db, thread)
    agent.decide(refund_review["id"], "reject", "sam", comment="not damaged in transit")
    (status_review,) = _pending(agent.db, thread)
    assert status_review["action"] == "change_account_status"
    agent.decide(status_review["id"], "approve", "lee")
    effects = [e["name"] for e in ledger.list_entries(agent.db, thread_id=thread)]
    assert effects == ["change_account_status"]
    reply = agent.state(thread).reply or ""
    assert "not damaged in transit" in reply and "did not carry it out" in reply, reply
    agent.close()


def test_a_blocked_first_action_ends_the_turn_and_names_what_was_not_attempted(settings, runner):
    context, calls = _context(), []

    def too_big(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
        answer = _two_actions(context, calls)(messages, tools)
        answer.tool_calls[0]["args"]["amount"] = 50_000  # beyond every tier's limit: nobody may approve it
        return answer

    agent = Runner(settings, model_factory=lambda name: OfflineChatModel(responder=too_big))
    thread = unique("two")
    result = agent.run(
        "support", "Refund fifty thousand and pause my account", user="eve", thread_id=thread, context=context
    )
    assert result.status == "blocked", result
    assert _pending(agent.db, thread) == [] and ledger.list_entries(agent.db, thread_id=thread) == []
    assert "change_account_status" in (result.reply or ""), result.reply
    agent.close()
