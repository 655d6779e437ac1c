"""The agents as LangGraph Server serves them: `langgraph.json` at the repository root names these graphs.

LangGraph Server builds a graph's context from the run's JSON (`context_schema(**json)`), which
cannot hold a database pool or a model. A served graph's context class takes and ignores that
JSON and resolves every service when a node reads it, in the server's worker thread, from this
process's one `Runner` (built on first use from the environment: `HITL_DATABASE_URL`,
`HITL_POLICY_DIR`, the model settings). The thread is the server's, never the client's.

A served graph starts with `intake`, which does for the server what `Runner.run` does for a turn:
the requester is the user the server's auth handler accepted (`hitl_runtime/server_auth.py`), not
a value of the input; the turn is numbered and recorded (thread row, the request's facts, the
audit event), once per server run. The gate writes its review row when it pauses and admits only
decisions the runtime's rules admit (`nodes/resume_check.py`); the executor writes the ledger.
"""

from __future__ import annotations

import threading
from typing import Any

from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.pregel import Pregel
from langgraph.runtime import Runtime

from guardrails.input_checks import screen
from hitl_core import audit
from hitl_core.errors import BadInput
from hitl_runtime.agents import agent_module, available_agents
from hitl_runtime.runner import Runner, checked_request, record_turn, record_turn_end
from hitl_runtime.served_threads import HOST
from nodes.resume_check import authenticated_user
from nodes.state import AgentContext, AgentState

_lock = threading.Lock()
_runner: Runner | None = None


def runner() -> Runner:
    """The process's one runner (database pool, policies, models, decision rules), built on first use."""
    global _runner
    with _lock:
        if _runner is None:
            _runner = Runner()
        return _runner


def served_context(agent: str) -> type[AgentContext]:
    """The context class of a served agent: every service resolved when a node reads it."""

    class ServedContext(AgentContext):
        def __init__(self, **_ignored: Any) -> None:
            """The run's JSON context holds nothing the agent takes from a client."""
            self.registered = set()  # the gate notes the rows it wrote; no bookkeeping follows a server's run

        @property
        def db(self) -> Any:  # type: ignore[override]
            return runner().db

        @property
        def policy(self) -> Any:  # type: ignore[override]
            return runner().policy(agent)

        @property
        def model(self) -> Any:  # type: ignore[override]
            return runner().model(agent)

        @property
        def agent(self) -> str:  # type: ignore[override]
            return agent

        @property
        def thread_id(self) -> str:  # type: ignore[override]
            return str(get_config()["configurable"]["thread_id"])

        @property
        def admit(self) -> Any:  # type: ignore[override]
            return runner().admit

        @property
        def host(self) -> str:  # type: ignore[override]
            return HOST

    ServedContext.__name__ = ServedContext.__qualname__ = f"{agent.title()}ServedContext"
    return ServedContext


def intake(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Start a served turn as `Runner.run` starts one: who asks, which turn, recorded once per server run."""
    ctx = runtime.context
    requester = authenticated_user()
    if requester is None:
        raise BadInput("LangGraph Server runs need a signed-in user: send Authorization: Bearer <hitl tokens create>")
    message, context = checked_request(state.get("request"), state.get("context"))
    run_id = str(get_config()["configurable"].get("run_id") or "")
    with ctx.db.transaction() as tx:
        turns = audit.thread_events(tx, ctx.thread_id, ("request_received",))
        same_run = [t for t in turns if run_id and t.get("run_id") == run_id]
        turn = int(same_run[0]["turn"]) if same_run else len(turns) + 1
        if not same_run:
            redacted = screen(message).redacted
            record_turn(tx, ctx.agent, ctx.thread_id, requester, redacted, context, turn, {"run_id": run_id}, HOST)
    update: dict[str, Any] = {"request": message, "requester": requester, "turn": turn}
    if context is not None:
        update["context"] = context
    own = getattr(agent_module(ctx.agent), "GRAPH_INPUT", None)  # a graph whose input is another shape
    return dict(own(update)) if callable(own) else update


def turn_done(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """End a served turn as the runtime's bookkeeping ends one: the thread row, and the turn's end in the audit."""
    ctx = runtime.context
    status = str(state.get("status") or "completed")
    route = (state.get("assessment") or {}).get("route")
    with ctx.db.transaction() as tx:
        record_turn_end(
            tx, ctx.agent, ctx.thread_id, status, route, state.get("reply"), state.get("outcome"), finished=True
        )
    return {}


def served_graph(agent: str) -> Pregel:
    """The agent's graph for LangGraph Server: `intake` first, the served context, the server's checkpointer."""
    built = agent_module(agent).build_graph()
    builder = getattr(built, "builder", built)  # a compiled graph (`create_agent`) is served from its builder
    first = [end for start, end in builder.edges if start == START] if isinstance(builder, StateGraph) else []
    if len(first) != 1 or builder.branches.get(START):
        raise TypeError(f"{agent}: a served graph is a StateGraph with one plain edge from START")
    builder.edges.discard((START, first[0]))
    builder.add_node("intake", intake)
    builder.add_edge(START, "intake")
    builder.add_edge("intake", first[0])
    builder.add_node("turn_done", turn_done)
    for last in [start for start, end in builder.edges if end == END]:
        builder.edges.discard((last, END))
        builder.add_edge(last, "turn_done")
    builder.add_edge("turn_done", END)
    builder.context_schema = served_context(agent)
    return builder.compile(name=agent)


def _servable(agent: str) -> Pregel | None:
    try:
        return served_graph(agent)
    except TypeError:  # entered some other way (a conditional entry, several first nodes): not served
        return None


# `hitl_runtime.server:<agent>` in `langgraph.json`: every registered agent whose graph can be served
# (the shipped examples, found as `graphs` subpackages, and those `HITL_AGENTS` names).
globals().update({agent: graph for agent in available_agents() if (graph := _servable(agent)) is not None})
