"""The gate as one LangChain middleware, for agents built with `langchain.agents.create_agent`.

In the spirit of LangChain's `HumanInTheLoopMiddleware` (same `HITLRequest` / `HITLResponse`
shapes), but governed: each tool call that is one of the runtime's actions goes through
`request_approval` (the shared validator; a review the runtime records and decides with all of
`Runner.decide`'s checks) and, once approved, runs through the one executor and its ledger
instead of the tool's own body. Other tools (read-only lookups) run as usual.

    agent = create_agent(model, [action_tool(PLACE_ORDER), lookup], middleware=[GovernedActions()],
                         context_schema=AgentContext)

The runner starts such a graph with `{"messages": [...]}` plus the keys of `GovernedState` (the
agent module's `GRAPH_INPUT` builds it from a request; see `examples/purchasing_agent.py`).
"""

from __future__ import annotations

import asyncio
import json
import operator
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, NotRequired

from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import Runtime
from langgraph.types import Command

from guardrails.input_checks import screen
from hitl_core.actions import ActionSpec, registered
from nodes.assess import SignalFn
from nodes.governed import request_approval
from nodes.state import AgentContext


def _latest(old: Any, new: Any) -> Any:
    """The last write wins: each tool call of one model answer runs as a task of its own, in one step."""
    return new


class GovernedState(AgentState[Any]):
    """LangChain's agent state plus what the runner reads and writes (see `nodes.state.AgentState`).

    The keys a tool call writes take the last value, so several calls in one answer may finish together.
    """

    request: NotRequired[str]
    requester: NotRequired[str]
    turn: NotRequired[int]
    context: NotRequired[dict[str, Any]]
    redacted_request: NotRequired[Annotated[str, _latest]]
    input_checks: NotRequired[Annotated[list[dict[str, Any]], _latest]]
    facts: NotRequired[Annotated[dict[str, Any], _latest]]
    proposal: NotRequired[Annotated[dict[str, Any] | None, _latest]]
    assessment: NotRequired[Annotated[dict[str, Any] | None, _latest]]
    tier: NotRequired[Annotated[int, _latest]]
    review_deadline: NotRequired[Annotated[str | None, _latest]]
    proposal_start: NotRequired[Annotated[int, _latest]]
    decisions: NotRequired[Annotated[list[dict[str, Any]], operator.add]]
    rejected: NotRequired[Annotated[list[str], operator.add]]
    executed: NotRequired[Annotated[list[dict[str, Any]], operator.add]]
    status: NotRequired[Annotated[str, _latest]]
    outcome: NotRequired[Annotated[str, _latest]]
    reply: NotRequired[Annotated[str | None, _latest]]


def messages_input(value: dict[str, Any]) -> dict[str, Any]:
    """The runner's standard input as a `create_agent` graph's: the (screened) request as the first message.

    An agent module sets `GRAPH_INPUT = messages_input`.
    """
    return {**value, "messages": [HumanMessage(screen(str(value.get("request") or "")).redacted, name="requester")]}


def action_tool(spec: ActionSpec) -> BaseTool:
    """A runtime action as a LangChain tool (its schema is the action's): only the ledger runs it.

    Called directly, without `GovernedActions` in front of it, it refuses instead of acting.
    """

    def ungoverned(**_: Any) -> str:
        raise ToolException(f"{spec.name} runs only through the runtime's approval gate and ledger")

    return StructuredTool.from_function(
        ungoverned, name=spec.name, description=spec.description, args_schema=spec.args_model
    )


def _told(decision: str, name: str, state: dict[str, Any]) -> str:
    """What the model is told when the action did not run."""
    last = (state.get("decisions") or [{}])[-1]
    reasons = "; ".join((state.get("assessment") or {}).get("reasons") or []) or "it is against the policy"
    return {
        "reject": f"A reviewer rejected {name}: {last.get('comment') or 'no reason given'}. It was not executed.",
        "request_info": f"A reviewer needs more information before {name} can run: {last.get('comment')}",
        "escalated_out": f"{name} was escalated past the last reviewer tier and was not executed.",
        "ignore": f"A reviewer dismissed {name}: it was not executed, and the request is closed without action.",
        "needs_info": f"{name} cannot run yet: its arguments are incomplete.",
    }.get(decision, f"{name} was refused and not executed: {reasons}.")


class GovernedActions(AgentMiddleware[GovernedState, AgentContext, Any]):
    """Every tool call that is a runtime action: validated, reviewed through the runtime, run by the ledger."""

    state_schema = GovernedState

    def __init__(self, actions: Iterable[str] | None = None, *, signals: SignalFn | None = None) -> None:
        """`actions`: the tool names to govern (default: every registered action); `signals`: the agent's own."""
        super().__init__()
        self.actions = set(actions) if actions is not None else None
        self.signals = signals

    def _governs(self, name: str) -> bool:
        return name in registered() if self.actions is None else name in self.actions

    def before_agent(self, state: GovernedState, runtime: Runtime[AgentContext]) -> dict[str, Any] | None:
        """A new turn starts with nothing proposed."""
        return {
            "proposal": None,
            "assessment": None,
            "status": "running",
            "outcome": "",
            "reply": None,
            "proposal_start": len(state.get("decisions") or []),
        }

    def wrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]]
    ) -> ToolMessage | Command[Any]:
        """Ask (through the runtime) before an action runs; run it through the ledger, never the tool's body."""
        if not self._governs(request.tool_call["name"]):
            return handler(request)
        return self._governed(request)

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]
    ) -> ToolMessage | Command[Any]:
        """The same, for a graph run asynchronously (LangGraph Server runs them so): the governed part in a thread."""
        if not self._governs(request.tool_call["name"]):
            return await handler(request)
        return await asyncio.to_thread(self._governed, request)  # the run's context goes along (`interrupt()` too)

    def _governed(self, request: ToolCallRequest) -> Command[Any]:
        call = request.tool_call
        approval = request_approval(
            request.state, request.runtime, call["name"], call["args"], signals=self.signals, key=call["id"]
        )
        update = dict(approval.update)
        if approval.approved:
            done = approval.execute(request.runtime)
            update.update(done)
            failed = done.get("status") == "failed"
            edited = approval.args != call["args"]
            content = (
                str(done.get("reply"))
                if failed
                else f"{call['name']} executed with {json.dumps(approval.args, sort_keys=True)}"
                + (" (a reviewer changed the arguments before it ran)" if edited else "")
            )
        else:
            failed = True
            content = _told(approval.decision, call["name"], approval.state)
            if approval.decision in ("blocked", "escalated_out"):
                update.update({"status": "blocked", "outcome": "blocked"})
            if approval.decision == "ignore":
                update.update({"status": "dismissed", "outcome": "dismissed"})
        message = ToolMessage(
            content, tool_call_id=call["id"], name=call["name"], status="error" if failed else "success"
        )
        return Command(update={**update, "messages": [message]})

    def after_agent(self, state: GovernedState, runtime: Runtime[AgentContext]) -> dict[str, Any] | None:
        """The turn's reply for the runner: the model's last answer."""
        last = next((m for m in reversed(state["messages"]) if isinstance(m, AIMessage)), None)
        text = last.content if last is not None and isinstance(last.content, str) else ""
        status = state.get("status") or "running"
        return {"reply": text, "status": status if status in ("failed", "blocked", "dismissed") else "completed"}
