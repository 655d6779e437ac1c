"""Ask the requester for what is missing: an interrupt addressed to the end user, not a reviewer."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime

from guardrails.input_checks import screen
from hitl_core.canonical import derived_id
from nodes.questions import agent_question
from nodes.resume_check import interrupt_with_row
from nodes.state import AgentContext, AgentState


def question_for(state: AgentState) -> str:
    """The reviewer's request for information if that is why we are here, else the agent's own (as a lead approved it)."""
    decisions = state.get("decisions", [])
    if decisions and decisions[-1]["effective"] == "request_info" and decisions[-1].get("turn") == state.get("turn", 1):
        asked = decisions[-1].get("comment") or "Could you tell us a bit more about your request?"
        return f"Before we can go ahead, our team needs one more detail: {asked}"
    return agent_question(state.get("proposal") or {})


def ask_requester(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Pause until the requester answers (`hitl reply`), then hand the answer to the agent."""
    ctx = runtime.context
    turn = state.get("turn", 1)
    asked = state.get("revisions", 0)
    question = question_for(state)
    answer = interrupt_with_row(
        ctx,
        {
            "kind": "question",
            "review_id": derived_id("q", [ctx.thread_id, turn, asked, len(state.get("decisions", []))]),
            "thread_id": ctx.thread_id,
            "agent": ctx.agent,
            "turn": turn,
            "addressed_to": state.get("requester", "anonymous"),
            "question": question,
            "deadline": state.get("review_deadline"),
        },
        state.get("requester", "anonymous"),
    )
    if not isinstance(answer, dict) or answer.get("expired") or not str(answer.get("answer") or "").strip():
        return {
            "messages": [AIMessage(question)],
            "status": "completed",
            "outcome": "expired",
            "reply": "We did not hear back, so this request is closed. Write to us again any time.",
        }
    text = screen(str(answer["answer"])).redacted
    return {
        "messages": [AIMessage(question), HumanMessage(text, name="requester")],
        "redacted_request": f"{state.get('redacted_request', '')}\n{text}".strip(),
        "revisions": asked + 1,
        "proposal": None,
        "assessment": None,
    }


def route_after_answer(state: AgentState, runtime: Runtime[AgentContext]) -> str:
    """Back to the agent, unless the question expired or the revision budget is spent."""
    if state.get("outcome") == "expired":
        return "finish"
    if state.get("revisions", 0) > runtime.context.policy.max_revisions:
        return "refuse"
    return "investigate"
