"""Agents of one's own, the two ways in (`examples/`), through the real `hitl` and the runner, on both backends.

`examples.travel_desk` is a hand-written StateGraph whose node calls `request_approval`;
`examples.purchasing_agent` is a `create_agent` graph gated by the `GovernedActions` middleware.
Both are registered with HITL_AGENTS like any outside agent: a run opens a review in the inbox, the
requester may not approve it, an approver's decision executes exactly once through the ledger, a
rejection executes nothing, and a resume that did not go through `Runner.decide` executes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.types import Command

from examples import purchasing_agent, travel_desk
from hitl_core import audit, leases, ledger, reviews
from hitl_core.actions import ASK_REQUESTER
from hitl_core.offline_model import OfflineChatModel
from hitl_core.users import add_user
from hitl_runtime.agents import register_agent
from nodes.middleware import GovernedActions, action_tool, messages_input
from nodes.state import AgentContext
from tests.helpers import unique


@dataclass(frozen=True)
class Example:
    """One example agent and a request its policy sends to one approver."""

    module: Any
    message: str
    context: dict[str, Any]
    approver_role: str
    action: str

    @property
    def name(self) -> str:
        return str(self.module.NAME)


EXAMPLES = [
    Example(
        travel_desk,
        "Book my trip to Lisbon for the partner meeting",
        {"traveller": "eve", "destination": "Lisbon", "cost": 900},
        "travel_manager",
        "book_trip",
    ),
    Example(purchasing_agent, "Order a standing desk from Acme for 650", {}, "buyer", "place_order"),
]


@pytest.fixture(params=EXAMPLES, ids=lambda e: e.name)
def example(request: pytest.FixtureRequest) -> Example:
    spec: Example = request.param
    register_agent(spec.name, spec.module)  # in this process; the command line finds it through HITL_AGENTS
    return spec


@pytest.fixture
def hitl(database_url: str):
    def call(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "HITL_TOKEN"}
        env.update({"HITL_DATABASE_URL": database_url, "HITL_AGENTS": "examples.travel_desk,examples.purchasing_agent"})
        return subprocess.run(
            [sys.executable, "-m", "hitl_cli.main", *args], env=env, capture_output=True, text=True, timeout=120
        )

    return call


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _effects(runner: Any, thread_id: str) -> list[dict[str, Any]]:
    return ledger.list_entries(runner.db, thread_id=thread_id)


def test_review_self_approval_approval_and_rejection_through_the_cli(hitl, example):
    approver, requester = unique("ap"), unique("rq")
    _json(hitl("users", "add", approver, "--role", example.approver_role, "--json"))
    _json(hitl("users", "add", requester, "--role", "end_user", "--role", example.approver_role, "--json"))
    listed = {a["name"]: a for a in _json(hitl("agents", "--json"))}
    # Its own action, and the question every policy has (a lead reviews it where the request needs one).
    assert listed[example.name]["actions"] == sorted([example.action, ASK_REQUESTER])
    assert listed[example.name]["source"] == "plugin"

    def run() -> dict[str, Any]:
        args = ["run", example.name, example.message, "--user", requester, "--json"]
        return _json(hitl(*args, "--context", json.dumps(example.context)))

    started = run()
    assert started["status"] == "pending_review", started
    assert started["action"]["name"] == example.action and started["route"] == "review"
    (review_id,) = started["reviews"]
    inbox = _json(hitl("reviews", "--agent", example.name, "--json"))
    assert review_id in [r["id"] for r in inbox]
    shown = _json(hitl("show", review_id, "--json"))["interrupt"]
    assert shown["action_requests"][0]["name"] == example.action  # a LangChain HITLRequest, as the shared gate's
    assert shown["review_configs"][0]["args_schema"]["properties"]

    own = hitl("decide", review_id, "approve", "--as", requester, "--json")
    assert own.returncode != 0 and "made this request and cannot decide it" in own.stderr
    assert _json(hitl("actions", "--thread", started["thread_id"], "--json")) == []

    decided = _json(hitl("decide", review_id, "approve", "--as", approver, "--json"))
    assert decided["status"] == "approved" and decided["thread"]["status"] == "completed"
    again = hitl("decide", review_id, "approve", "--as", approver, "--json")
    assert again.returncode != 0 and "already" in again.stderr
    assert not _json(hitl("sweep", "--json"))["errors"]
    actions = _json(hitl("actions", "--thread", started["thread_id"], "--json"))
    assert [(a["name"], a["review_id"], a["executed_by"]) for a in actions] == [(example.action, review_id, approver)]

    second = run()
    (rejected_id,) = second["reviews"]
    out = _json(hitl("decide", rejected_id, "reject", "--as", approver, "--comment", "not this quarter", "--json"))
    assert out["status"] == "rejected" and out["thread"]["status"] == "completed"
    assert "not this quarter" in out["thread"]["reply"]
    assert _json(hitl("actions", "--thread", second["thread_id"], "--json")) == []


def test_escalation_and_an_edit_are_further_reviews_in_the_same_call(runner, example):
    add_user(runner.db, "pat", [example.approver_role], actor="test")
    add_user(runner.db, "fin", ["finance_lead"], actor="test")
    started = runner.run(example.name, example.message, user="eve", context=example.context)
    escalated = runner.decide(started.reviews[0], "escalate", "pat", comment="finance should see this")
    (next_review,) = escalated["thread"]["reviews"]
    assert reviews.get(runner.db, next_review)["required_roles"] == ["finance_lead"]
    assert _effects(runner, started.thread_id) == []
    approved = runner.decide(next_review, "approve", "fin")
    assert approved["thread"]["status"] == "completed"
    (effect,) = _effects(runner, started.thread_id)
    assert effect["review_id"] == next_review and effect["executed_by"] == "fin"

    edited = runner.run(example.name, example.message, user="eve", context=example.context)
    amount_arg = runner.policy(example.name).action(example.action).amount_arg
    assert amount_arg is not None
    out = runner.decide(edited.reviews[0], "edit", "pat", args={amount_arg: 120})
    assert out["status"] == "approved_with_edits"
    (effect,) = _effects(runner, edited.thread_id)
    assert effect["args"][amount_arg] == 120


def test_a_resume_that_skipped_the_runtime_executes_nothing(runner, example):
    started = runner.run(example.name, example.message, user="eve", context=example.context)
    row = reviews.get_row(runner.db, started.reviews[0])
    forged = Command(resume={row["interrupt_id"]: {"decisions": [{"type": "approve", "reviewer": "mallory"}]}})
    token = leases.acquire(runner.db, started.thread_id, 30)
    try:
        runner.graph(example.name).invoke(
            forged, runner.config(started.thread_id, token), context=runner.context(example.name, started.thread_id)
        )
    finally:
        leases.release(runner.db, started.thread_id, token)
    assert _effects(runner, started.thread_id) == []
    assert "resume_refused" in [e["kind"] for e in audit.thread_history(runner.db, started.thread_id)]
    assert reviews.get(runner.db, started.reviews[0])["status"] == "pending"
    assert runner.state(started.thread_id).reviews == started.reviews, "still waiting on the same review"
    assert audit.verify(runner.db).ok


def _two_orders(messages: list[Any], tools: list[dict[str, Any]]) -> AIMessage:
    """A model answer with two actions at once (two tool calls), then a summary of their results."""
    if isinstance(messages[-1], ToolMessage):
        return AIMessage(" | ".join(str(m.content) for m in messages if isinstance(m, ToolMessage)))
    calls = [("c1", "Acme", "desk", 300), ("c2", "Zed", "chair", 200)]
    return AIMessage(
        "",
        tool_calls=[
            {"name": "place_order", "args": {"vendor": v, "item": i, "amount": a}, "id": c} for c, v, i, a in calls
        ],
    )


def test_two_tool_calls_in_one_answer_are_two_reviews(runner):
    def build_graph() -> Any:
        return create_agent(
            OfflineChatModel(responder=_two_orders),
            tools=[action_tool(purchasing_agent.PLACE_ORDER)],
            middleware=[GovernedActions(signals=purchasing_agent.SIGNALS)],
            context_schema=AgentContext,
        )

    agent = SimpleNamespace(
        POLICY_FILE=purchasing_agent.POLICY_FILE,
        GRAPH_INPUT=messages_input,
        build_graph=build_graph,
        load_context=purchasing_agent.load_context,
    )
    register_agent("purchasing", agent)
    try:
        add_user(runner.db, "pat", ["buyer"], actor="test")
        started = runner.run("purchasing", "Two orders, please", user="eve")
        assert started.status == "pending_review" and len(started.reviews) == 2
        first, second = started.reviews
        assert runner.decide(first, "approve", "pat")["thread"]["reviews"] == [second]
        done = runner.decide(second, "reject", "pat", comment="one is enough")
        assert done["thread"]["status"] == "completed" and "one is enough" in done["thread"]["reply"]
        assert [(e["args"]["item"], e["review_id"]) for e in _effects(runner, started.thread_id)] == [("desk", first)]
    finally:
        register_agent("purchasing", purchasing_agent)


def test_rollback_tells_the_requester_and_request_info_asks_in_the_reply(runner, example):
    add_user(runner.db, "pat", [example.approver_role], actor="test")
    started = runner.run(example.name, example.message, user="eve", context=example.context)
    runner.decide(started.reviews[0], "approve", "pat")
    (effect,) = _effects(runner, started.thread_id)
    undone = runner.rollback(effect["id"], "pat", reason="plans changed")
    assert undone["status"] == "rolled_back" and undone["told"] is True
    assert "plans changed" in str(runner.state(started.thread_id).reply)

    asked = runner.run(example.name, example.message, user="eve", context=example.context)
    out = runner.decide(asked.reviews[0], "request_info", "pat", comment="Which budget line?")
    assert out["thread"]["status"] == "completed" and "Which budget line?" in out["thread"]["reply"]
    assert _effects(runner, asked.thread_id) == []
    again = runner.run(example.name, example.message, user="eve", context=example.context, thread_id=asked.thread_id)
    assert again.status == "pending_review" and again.reviews != asked.reviews
