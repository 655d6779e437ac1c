"""A travel desk as a hand-written LangGraph StateGraph that asks for approval with `request_approval`.

Run it: `HITL_AGENTS=examples.travel_desk hitl run travel "Book my trip to Lisbon" --user eve
--context '{"traveller": "eve", "destination": "Lisbon", "cost": 900}'`. The graph is two nodes of
its own (`plan`, `book`); `book` calls `request_approval` where it would have called `interrupt()`,
and `carry_out` books through the ledger once the runtime accepted a decision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from guardrails.routing import Signal
from hitl_core.actions import ActionSpec, register
from hitl_core.db import Tx
from nodes.governed import request_approval
from nodes.state import AgentContext, AgentState, InputState

NAME = "travel"
POLICY_FILE = Path(__file__).with_name("travel_desk.yaml")


class TripArgs(BaseModel):
    """What booking a trip needs: who, where, and the cost the company pays."""

    model_config = ConfigDict(extra="forbid")
    traveller: str = Field(min_length=1, max_length=60)
    destination: str = Field(min_length=1, max_length=60)
    cost: float = Field(gt=0, le=20_000)


def _book(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    """The effect (inside the ledger's transaction): here the booking is the ledger row itself."""
    return {"booking": f"{args['traveller']} to {args['destination']}", "cost": args["cost"], "thread_id": thread_id}


def _cancel(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
    return {"cancelled": effect["booking"]}


BOOK_TRIP = register(
    ActionSpec(
        "book_trip",
        "Book a business trip",
        TripArgs,
        _book,
        _cancel,
        undo_plan="Cancel the booking (free until 24 hours before departure)",
        identity=("traveller", "destination"),
        confirm=lambda a: f"Your trip to {a['destination']} is booked ({a['cost']:g}).",
    )
)


class TravelState(AgentState, total=False):
    """The shared state (what the runner reads) plus this graph's own key."""

    trip: dict[str, Any]


def SIGNALS(state: AgentState, ctx: AgentContext) -> Any:
    """The desk's risk: the trip's cost (also re-validates a reviewer's edit)."""
    cost = float(((state.get("proposal") or {}).get("args") or {}).get("cost") or 0)
    risk = [Signal("money", min(0.8, cost / 5000), f"a trip costing {cost:g}")]
    return dict(state.get("facts") or {}), [Signal("model_estimate", 0.9, "the request names the trip")], risk, []


def plan(state: TravelState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Read-only: the trip the request asks for, from its context."""
    context = state.get("context") or {}
    trip = {
        "traveller": str(context.get("traveller") or state.get("requester") or "anonymous"),
        "destination": str(context.get("destination") or "Lisbon"),
        "cost": float(context.get("cost") or 500),
    }
    return {"trip": trip}


def book(state: TravelState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Ask for approval (a governed interrupt), then book through the ledger. No effect before it."""
    trip = state["trip"]
    approval = request_approval(
        state,
        runtime,
        "book_trip",
        trip,
        summary=f"Your trip to {trip['destination']} is booked.",
        alternatives=["Travel by train instead"],
        signals=SIGNALS,
    )
    return approval.carry_out(runtime)


def build_graph() -> StateGraph[TravelState, AgentContext, InputState, TravelState]:
    """Two nodes of its own (plan, then book); no shared wiring."""
    graph = StateGraph(TravelState, context_schema=AgentContext, input_schema=InputState)
    graph.add_node("plan", plan)
    graph.add_node("book", book)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "book")
    graph.add_edge("book", END)
    return graph


def load_context(tx: Tx, context: dict[str, Any], requester: str) -> None:
    """The desk keeps no records of its own for a request."""
