"""The standard shape of every agent graph: one screen, one validator, one gate, one executor.

An agent supplies only what is its own: how it investigates (read-only lookups and retrieval),
how it proposes (the model call), and the signals its validator weighs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from nodes.approval_gate import approval_gate, route_after_gate
from nodes.ask_requester import ask_requester, route_after_answer
from nodes.assess import SignalFn, make_assess_node, route_after_assess, route_after_assess_revising
from nodes.execute import execute
from nodes.finish import finish, refuse
from nodes.next_action import next_action, replaying, route_after_execute
from nodes.screen_input import blocked_before_model, screen_input
from nodes.state import AgentContext, AgentState, InputState, Node


@dataclass(frozen=True)
class AgentNodes:
    """The agent-specific parts of a graph."""

    investigate: Node
    """Read-only: look up records, retrieve evidence, record the tool calls made."""
    propose: Node
    """Call the model and turn its answer into a proposal (or a question)."""
    signals: SignalFn
    """Facts, confidence and risk signals, and agent-specific checks for the validator."""
    revise_drafts: bool = False
    """Whether a draft failing a `revise` check goes back to `propose` (bounded; see nodes/revise.py)."""


def _after_screen(state: AgentState, runtime: Runtime[AgentContext]) -> str:
    return "assess" if blocked_before_model(state, runtime) else "investigate"


def _queueing(propose: Node) -> Node:
    """The agent's propose node, with the answer's further action calls moved to `pending_calls`."""

    def propose_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        was_replaying = replaying(state)
        update = dict(propose(state, runtime))
        proposal = update.get("proposal")
        also = proposal.get("also_proposed") or [] if isinstance(proposal, dict) else []
        if isinstance(proposal, dict):
            update["proposal"] = {k: v for k, v in proposal.items() if k != "also_proposed"}
        waiting = state.get("pending_calls") or []
        # A replayed call leaves the queue; a fresh answer (a revised draft, after the requester's reply)
        # brings its own further calls, or leaves the waiting ones where they are.
        update["pending_calls"] = waiting[1:] if was_replaying else (also or waiting)
        return update

    return propose_node


def build_agent_graph(
    parts: AgentNodes, *, executor: Node = execute, gate: Node = approval_gate
) -> StateGraph[AgentState, AgentContext, InputState, AgentState]:
    """Wire an agent's parts into the shared flow; returns the uncompiled graph.

    `executor` and `gate` exist for one caller: the benchmark's plain-LangGraph baseline, which
    measures the same graph without the runtime (so without the checks of the reviews table).
    """
    graph = StateGraph(AgentState, context_schema=AgentContext, input_schema=InputState)
    graph.add_node("screen_input", screen_input)
    graph.add_node("investigate", parts.investigate)
    graph.add_node("propose", _queueing(parts.propose))
    graph.add_node("assess", make_assess_node(parts.signals, revise_drafts=parts.revise_drafts))
    graph.add_node("approval_gate", gate)
    graph.add_node("ask_requester", ask_requester)
    graph.add_node("execute", executor)
    graph.add_node("next_action", next_action)
    graph.add_node("finish", finish)
    graph.add_node("refuse", refuse)
    graph.add_edge(START, "screen_input")
    graph.add_conditional_edges("screen_input", _after_screen, ["investigate", "assess"])
    graph.add_edge("investigate", "propose")
    graph.add_edge("propose", "assess")
    if parts.revise_drafts:
        graph.add_conditional_edges(
            "assess",
            route_after_assess_revising,
            ["execute", "approval_gate", "ask_requester", "refuse", "propose"],
        )
    else:
        graph.add_conditional_edges(
            "assess", route_after_assess, ["execute", "approval_gate", "ask_requester", "refuse"]
        )
    graph.add_conditional_edges(
        "approval_gate",
        route_after_gate,
        ["execute", "ask_requester", "approval_gate", "next_action", "finish", "refuse"],
    )
    graph.add_conditional_edges("ask_requester", route_after_answer, ["investigate", "finish", "refuse"])
    graph.add_conditional_edges("execute", route_after_execute, ["next_action", "finish"])
    graph.add_edge("next_action", "propose")
    graph.add_edge("finish", END)
    graph.add_edge("refuse", END)
    return graph
