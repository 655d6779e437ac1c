"""Bounded revision of drafts that fail a check: the policy decides, and a retry never bypasses a human."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from guardrails.prompt_context import read_context
from guardrails.routing import Check, Proposal, Signal, assess
from hitl_core.offline_model import OfflineChatModel
from hitl_runtime.agents import agent_policy
from hitl_runtime.models import offline_responder
from tests.helpers import question

UNSUPPORTED = " We also refund your shipping twice over on every order."
STRONG = [Signal("retrieval_quality", 0.9, ""), Signal("validation", 1, ""), Signal("model_estimate", 0.9, "")]
CALM = {"customer": {"tier": "standard", "lifetime_value": 0}, "evidence": {"top_score": 0.9}}


# -- the validator's precedence, with known inputs ----------------------------------------------------
@pytest.fixture(scope="module")
def policy():
    return agent_policy("support")


def _route(policy, checks, **kw):
    return assess(policy, Proposal("reply", {}, **kw), CALM, STRONG, [], checks)


def test_revise_comes_after_block_and_missing_information(policy):
    revise = Check("draft_tone", False, "review", "courteous")  # the support policy maps it to revise
    assert _route(policy, [revise], revisions_left=1)["route"] == "revise"
    assert _route(policy, [revise, Check("x", False, "block", "never")], revisions_left=1)["route"] == "block"
    assert _route(policy, [revise], revisions_left=1, missing=["order"])["route"] == "needs_info"
    spent = _route(policy, [revise], revisions_left=0)
    assert spent["route"] == "review"
    assert spent["reasons"] == ["draft_tone: courteous (still failing after revision)"]
    assert (
        _route(policy, [Check("draft_supported_by_evidence", False, "info", "r")], revisions_left=1)["route"]
        == "revise"
    )


def test_without_a_revision_budget_revise_means_review(policy):
    # Agents whose graph does not route revisions (revisions_left 0) send the draft to a human.
    assert _route(policy, [Check("draft_tone", False, "review", "r")])["route"] == "review"


def test_a_rejected_action_never_becomes_automatic_through_revision(policy):
    first = _route(policy, [Check("draft_tone", False, "review", "r")], revisions_left=1, previously_rejected=True)
    assert first["route"] == "revise"
    after = _route(policy, [], revisions_left=0, previously_rejected=True)
    assert after["route"] == "review" and "rejected earlier" in " ".join(after["reasons"])


# -- end to end, with scripted models --------------------------------------------------------------
@pytest.fixture
def scripted(settings) -> Iterator[Callable[[Callable[[dict[str, Any], AIMessage], AIMessage]], Any]]:
    """A Runner whose model is the offline support model passed through `script(context, answer)`."""
    from hitl_runtime.runner import Runner

    made: list[Any] = []

    def build(script: Callable[[dict[str, Any], AIMessage], AIMessage]) -> Any:
        respond = offline_responder("support")
        calls: list[dict[str, Any]] = []

        def responder(messages, tools):
            context = read_context(messages)
            calls.append(context)
            return script(context, respond(messages, tools))

        runner = Runner(settings, model_factory=lambda agent: OfflineChatModel(responder=responder))
        runner.calls = calls
        made.append(runner)
        return runner

    yield build
    for runner in made:
        runner.close()


def _reply(message: str, customer_id: str, confidence: float = 0.9) -> AIMessage:
    return AIMessage(
        f"CONFIDENCE: {confidence}",
        tool_calls=[{"name": "reply", "args": {"customer_id": customer_id, "message": message}, "id": "call_x"}],
    )


def _with_claim(context: dict[str, Any], answer: AIMessage) -> AIMessage:
    call = answer.tool_calls[0]
    if context.get("revision"):
        fixed = context["revision"]["previous_draft"].replace(UNSUPPORTED, "")
        return _reply(fixed, call["args"]["customer_id"])
    return _reply(call["args"]["message"] + UNSUPPORTED, call["args"]["customer_id"])


def test_unsupported_claim_is_revised_then_runs(scripted):
    runner = scripted(_with_claim)
    result = question(runner, "How long does standard shipping take?")
    assert (result.status, result.route) == ("completed", "auto")
    assert UNSUPPORTED.strip() not in result.reply
    state = runner.snapshot("support", result.thread_id).values
    assert state["draft_revisions"] == 1
    (revision,) = state["revision_history"]
    assert [c["id"] for c in revision["failed"]] == ["draft_supported_by_evidence"]
    assert UNSUPPORTED.strip() in revision["draft"]
    assert len(runner.calls) == 2 and runner.calls[1]["revision"]["failed_checks"][0]["outcome"] == "revise"


def test_revisions_are_bounded_and_then_a_human_decides(scripted):
    def stubborn(context, answer):
        call = answer.tool_calls[0]
        draft = (
            context["revision"]["previous_draft"] if context.get("revision") else call["args"]["message"] + UNSUPPORTED
        )
        return _reply(draft, call["args"]["customer_id"])

    runner = scripted(stubborn)
    result = question(runner, "How long does standard shipping take?")
    assert (result.status, result.route) == ("pending_review", "review")
    assert any("still failing after revision" in r for r in result.reasons)
    assert len(runner.calls) == 2  # the policy's max_draft_revisions is 1
    payload = runner.show(result.reviews[0])["interrupt"]
    assert len(payload["revisions"]) == 1 and payload["confidence_raw"] is not None


def test_a_blocked_draft_is_never_revised(scripted):
    def leaky(context, answer):
        call = answer.tool_calls[0]
        return _reply(
            call["args"]["message"] + " Your card 4111 1111 1111 1111 is on file.", call["args"]["customer_id"]
        )

    runner = scripted(leaky)
    result = question(runner, "How long does standard shipping take?")
    assert (result.status, result.route) == ("blocked", "block")
    assert len(runner.calls) == 1


def test_a_revision_that_changes_the_action_goes_to_a_human(scripted):
    def switcher(context, answer):
        call = answer.tool_calls[0]
        if context.get("revision"):
            return _reply("Hi, shipping takes 3-5 business days.", "c-someone-else")
        return _reply(call["args"]["message"] + UNSUPPORTED, call["args"]["customer_id"])

    runner = scripted(switcher)
    result = question(runner, "How long does standard shipping take?")
    assert result.route == "review"
    payload = runner.show(result.reviews[0])["interrupt"]
    changed = next(c for c in payload["checks"] if c["id"] == "revision_changed_action")
    assert not changed["passed"] and "customer_id" in changed["detail"]
    assert len(runner.calls) == 2
