"""The model call every agent makes: context in, tool calls (actions, or a question) out.

Actions are offered to the model as tools whose schemas are the actions' argument schemas; a
tool call is a proposal, never an execution. Asking the requester is a tool too, so a model that
lacks information says so in the same structured way. When one answer holds several action
calls, the first is the proposal and the rest wait their turn (`nodes/next_action.py`).
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage, SystemMessage

from guardrails.prompt_context import context_message
from hitl_core.actions import ActionSpec
from hitl_core.errors import Unavailable
from nodes.next_action import replaying
from nodes.state import AgentContext, AgentState

ASK_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "ask_requester",
        "description": "Ask the requester for information you need before you can act.",
        "parameters": {
            "type": "object",
            "properties": {
                "question": {"type": "string", "description": "One short, polite question"},
                "missing": {"type": "array", "items": {"type": "string"}, "description": "What is missing"},
            },
            "required": ["question", "missing"],
        },
    },
}
_CONFIDENCE = re.compile(r"CONFIDENCE:\s*([01](?:\.\d+)?)", re.IGNORECASE)


def action_tool(spec: ActionSpec) -> dict[str, Any]:
    """An action as an OpenAI-format tool; its parameters are the action's argument schema."""
    return {
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": spec.args_schema()},
    }


def call_model(
    ctx: AgentContext,
    state: AgentState,
    instructions: str,
    context: dict[str, Any],
    actions: list[ActionSpec],
) -> dict[str, Any]:
    """Ask the model for a proposal (or take the next call of its earlier answer); a plain dict for state.

    The proposal's `also_proposed` holds the answer's further action calls; the wiring moves them to
    `pending_calls` (agents pass the dict on, adding to it).
    """
    if replaying(state):
        waiting = state.get("pending_calls") or []
        call = waiting[0]
        answer = AIMessage(str(call.get("text") or ""), tool_calls=[{k: call[k] for k in ("name", "args", "id")}])
        return {**proposal_from(answer, actions), "also_proposed": []}
    tools = [action_tool(a) for a in actions] + [ASK_TOOL]
    conversation = [m for m in state.get("messages", []) if not isinstance(m, SystemMessage)]
    try:
        answer = ctx.model.bind_tools(tools).invoke([context_message(instructions, context), *conversation])
    except Exception as exc:  # the model server is down, times out or refuses
        raise Unavailable(f"model call failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    return proposal_from(answer if isinstance(answer, AIMessage) else AIMessage(str(answer)), actions)


def proposal_from(answer: AIMessage, actions: list[ActionSpec]) -> dict[str, Any]:
    """Turn the model's answer into a proposal; text without a tool call becomes a question."""
    text = answer.content if isinstance(answer.content, str) else ""
    match = _CONFIDENCE.search(text)
    model_confidence = float(match.group(1)) if match else 0.5
    text = _CONFIDENCE.sub("", text).strip()
    known = {a.name: a for a in actions}
    calls = answer.tool_calls or []
    acting = [c for c in calls if c["name"] in known]
    call = acting[0] if acting else next((c for c in calls if c["name"] == "ask_requester"), None)
    if call is None or call["name"] == "ask_requester":
        args = call["args"] if call else {}
        return {
            "name": None,
            "args": {},
            "missing": [str(m) for m in args.get("missing") or ["more detail about the request"]],
            "question": str(args.get("question") or text or "Could you tell me a bit more?"),
            "model_confidence": model_confidence,
        }
    spec = known[call["name"]]
    args = dict(call["args"])
    draft = args.get(spec.draft_arg) if spec.draft_arg else text
    return {
        "name": spec.name,
        "args": args,
        "description": spec.description,
        "draft": draft or None,
        "missing": [],
        "model_confidence": model_confidence,
        "also_proposed": [
            {"name": c["name"], "args": dict(c["args"]), "id": c.get("id") or f"call_{n}", "text": answer.content}
            for n, c in enumerate(acting[1:], start=1)
        ],
    }


def preview_for(ctx: AgentContext, spec: ActionSpec, args: dict[str, Any]) -> dict[str, Any]:
    """What the action would do with these arguments (read-only); bad arguments are reported, not raised.

    The validator reports invalid arguments in its own right; the preview only says it could not be made.
    """
    if spec.preview is None:
        return {}
    try:
        with ctx.db.transaction(write=False) as tx:
            return spec.preview(tx, spec.validate_args(args))
    except Exception as exc:
        return {"error": str(exc)}
