"""A purchasing agent built with LangChain's `create_agent`, gated by one middleware (`GovernedActions`).

Run it: `HITL_AGENTS=examples.purchasing_agent hitl run purchasing "Order a standing desk from Acme
for 650" --user eve`. The model is a deterministic fake (`OfflineChatModel` with a responder) that
turns the request into a `place_order` tool call; the middleware sends the call through the
validator and the runtime's reviews, and runs it through the ledger once approved.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ConfigDict, Field

from guardrails.routing import Signal
from hitl_core.actions import ActionSpec, register
from hitl_core.db import Tx
from hitl_core.offline_model import OfflineChatModel, tool_call_message
from nodes.middleware import GovernedActions, action_tool, messages_input
from nodes.state import AgentContext, AgentState

NAME = "purchasing"
POLICY_FILE = Path(__file__).with_name("purchasing_agent.yaml")
GRAPH_INPUT = messages_input
"""The runner's request becomes the agent's first message (its input is `{"messages": [...]}`)."""


class OrderArgs(BaseModel):
    """A purchase order: what, from whom, for how much."""

    model_config = ConfigDict(extra="forbid")
    vendor: str = Field(min_length=1, max_length=60)
    item: str = Field(min_length=1, max_length=120)
    amount: float = Field(gt=0, le=50_000)


def _order(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    """The effect (inside the ledger's transaction): here the order is the ledger row itself."""
    return {"order": f"{args['item']} from {args['vendor']}", "amount": args["amount"], "thread_id": thread_id}


def _cancel(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
    return {"cancelled": effect["order"]}


PLACE_ORDER = register(
    ActionSpec(
        "place_order",
        "Place a purchase order with a vendor",
        OrderArgs,
        _order,
        _cancel,
        undo_plan="Cancel the order with the vendor",
        identity=("vendor", "item"),
    )
)


def SIGNALS(state: AgentState, ctx: AgentContext) -> Any:
    """The agent's risk: the order's amount (also re-validates a reviewer's edit)."""
    amount = float(((state.get("proposal") or {}).get("args") or {}).get("amount") or 0)
    risk = [Signal("money", min(0.8, amount / 5000), f"an order of {amount:g}")]
    return dict(state.get("facts") or {}), [Signal("model_estimate", 0.9, "the request names the order")], risk, []


def respond(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
    """The fake model: a request becomes one `place_order` call; a tool's result becomes the answer."""
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return AIMessage(f"About your order: {last.content}")
    text = str(last.content)
    amount = re.search(r"(\d+(?:\.\d+)?)", text)
    vendor = re.search(r"\bfrom ([A-Z][\w-]*)", text)
    item = re.search(r"\b(?:order|buy)\s+(?:an?\s+)?(.+?)\s+from\b", text, re.IGNORECASE)
    args = {
        "vendor": vendor.group(1) if vendor else "Acme",
        "item": item.group(1) if item else "office supplies",
        "amount": float(amount.group(1)) if amount else 100.0,
    }
    return tool_call_message("place_order", args, "I will place this order.", confidence=0.9)


def build_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """A plain `create_agent` graph; the runner gives it its own checkpointer."""
    return create_agent(
        OfflineChatModel(responder=respond),
        tools=[action_tool(PLACE_ORDER)],
        middleware=[GovernedActions(["place_order"], signals=SIGNALS)],
        context_schema=AgentContext,
        system_prompt="You place purchase orders for the team.",
    )


def load_context(tx: Tx, context: dict[str, Any], requester: str) -> None:
    """The agent keeps no records of its own for a request."""
