"""What the top of the review screen says, and which review comes next, from the runtime's own data.

The app's pages only format: `summary` turns `Runner.show`'s review (the exact interrupt payload,
the row, its approvals and the thread's other reviews) into the few facts a reviewer decides on
(what, for whom, on what, how much, why, who escalated, approvals so far, the deadline). Once the
review is decided it describes what was decided: the edited arguments and their preview when edited.
`next_review` is the inbox's first pending review (its default order) that this user may decide.
"""

from __future__ import annotations

from typing import Any

from hitl_core import reviews
from hitl_core.users import User
from hitl_runtime import access
from hitl_runtime.agents import agent_policy
from hitl_runtime.inbox import target
from hitl_runtime.runner import Runner

NEXT_SCAN = 200
"""How many inbox rows `next_review` looks through for one this user may decide."""


def _escalation(review: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any] | None:
    """Who escalated this request to this review, why, and from which tier (by name), or None."""
    turn = payload.get("turn")
    earlier = [h for h in payload.get("history") or [] if h.get("turn") == turn and h.get("review_id")]
    last = earlier[-1] if earlier else {}
    if last.get("effective") != "escalate":
        return None
    names = {r["id"]: r.get("tier_name") for r in review.get("thread_reviews") or []}
    return {
        "by": last.get("reviewer") or "the deadline",
        "note": last.get("comment") or "",
        "from_tier": names.get(str(last.get("review_id"))) or "the tier below",
    }


def summary(review: dict[str, Any]) -> dict[str, Any]:
    """The review's summary: see the module's docstring. `review` is `Runner.show`'s (or `access.review`'s)."""
    payload = review.get("interrupt") or {}
    request = (payload.get("action_requests") or [{}])[0]
    decision = review.get("decision") or {}
    edited = (decision.get("edited_action") or {}).get("args")
    args: dict[str, Any] = dict(edited or request.get("args") or review.get("args") or {})
    amount = review.get("amount")
    if edited and isinstance(args.get("amount"), (int, float)):
        amount = args["amount"]
    currency = args.get("currency")
    approvals = review.get("approvals") or []
    tier = payload.get("tier") or {}
    return {
        "action": review.get("action") or request.get("name"),
        "description": request.get("description") or "",
        "requester": review.get("requester"),
        "target": target(str(review.get("agent")), review.get("action"), args),
        "args": args,
        "edited": bool(edited),
        "amount": amount,
        "currency": currency if isinstance(currency, str) else None,
        "route": payload.get("route"),
        "reasons": list(review.get("reasons") or payload.get("reasons") or []),
        "tier": tier.get("name") or review.get("tier_name"),
        "escalated": _escalation(review, payload),
        "approvals": {
            "count": len({a["reviewer"] for a in approvals}),
            "required": int(review.get("approvals_required") or 1),
            "by": list(dict.fromkeys(a["reviewer"] for a in approvals)),
        },
        "deadline": review.get("deadline"),
        "preview": (decision.get("preview") if edited and decision.get("preview") else payload.get("preview")) or {},
        "status": review.get("status"),
    }


def next_review(runner: Runner, user: User, after: str | None = None) -> str | None:
    """The first pending review in the inbox's default order (other than `after`) this user may decide, or None."""
    rows = reviews.inbox(runner.db, roles=access.inbox_roles(user), limit=NEXT_SCAN)
    for row in rows:
        if row["id"] != after and reviews.decide_refusal(user, row) is None:
            return str(row["id"])
    return None


def signals(review: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each confidence and risk signal against the agent's policy thresholds: `good`, `borderline` or `bad`.

    A confidence signal is good at or above the policy's auto-approve confidence, bad below its review
    minimum; a risk signal is good at or below the policy's auto-approve risk limit, bad above it.
    """
    payload = review.get("interrupt") or {}
    th = agent_policy(str(review["agent"])).thresholds
    weights = agent_policy(str(review["agent"])).confidence_weights

    def confidence(value: float) -> str:
        return (
            "good" if value >= th.auto_min_confidence else "bad" if value < th.review_min_confidence else "borderline"
        )

    return {
        "confidence": [
            {
                "signal": s["name"],
                "value": float(s["value"]),
                "reading": confidence(float(s["value"])),
                "threshold": f"≥ {th.auto_min_confidence:.2f} good, < {th.review_min_confidence:.2f} bad",
                "weight": weights.get(s["name"], 0.0),
                "based on": s.get("detail") or "",
            }
            for s in payload.get("confidence_signals") or []
        ],
        "risk": [
            {
                "signal": s["name"],
                "value": float(s["value"]),
                "reading": "good" if float(s["value"]) <= th.auto_max_risk else "bad",
                "threshold": f"≤ {th.auto_max_risk:.2f} good",
                "based on": s.get("detail") or "",
            }
            for s in payload.get("risk_signals") or []
        ],
    }
