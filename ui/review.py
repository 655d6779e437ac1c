"""The review screen: everything a reviewer needs to decide one review, and the decision form.

It shows DESIGN's list from the exact interrupt payload (`Runner.show`): the request, the proposed
action and its arguments, the evidence with sources and scores, the tool calls already made, each
confidence and risk signal and each policy check separately, the preview of what approval does,
the alternatives, the undo plan, the deadline counting down, the escalation path and the earlier
decisions on the thread. The decision goes through `Runner.decide` with the payload hash the
reviewer saw; the runtime checks identity, role, hash and compare-and-set, and when someone else
decided first the page says so and shows their decision. Model and user text is rendered as text.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from guardrails.policy import load_policy
from hitl_runtime import reviews
from hitl_runtime.errors import Conflict, HitlError
from hitl_runtime.feedback import CATEGORIES
from hitl_runtime.users import User
from ui import services

DECISION_LABELS = {
    "approve": "Approve",
    "edit": "Approve with edits",
    "reject": "Reject",
    "request_info": "Request more information",
    "escalate": "Escalate",
}


def main() -> None:
    """Load the review named in `?id=`, show it, and offer the decisions the user may take."""
    user = services.require_user("review")
    review_id = st.query_params.get("id")
    if not review_id:
        st.info("Open a review from the inbox.")
        st.page_link("inbox.py", label="Go to the inbox", icon=":material/inbox:")
        return
    try:
        review = services.runner().show(review_id)
    except HitlError as exc:
        st.error(services.md_escape(exc))
        return
    outcome = st.session_state.pop(f"review_outcome:{review_id}", None)
    if review["agent"] not in services.visible_agents(user):
        if outcome:
            _outcome(*outcome)
        st.error("Your roles do not give access to this agent's reviews.")
        return
    opened_as = st.session_state.setdefault(f"review_opened:{review_id}", review["status"])
    _header(review)
    if not outcome and opened_as == "pending" and review["status"] != "pending" and review["decided_by"] != user.name:
        st.warning(
            services.md_escape(
                f"Someone else decided this review while you had it open: {review['status']} by "
                f"{review['decided_by']} at {services.local_time(review['decided_at'])}."
            ),
            icon=":material/group:",
        )
    payload = review["interrupt"]
    status_panel(review_id, review["status"], payload.get("expiry_fallback") or "the policy's fallback")
    if review["kind"] == "question":
        st.subheader("Question to the requester")
        st.text(payload.get("question", ""))
        st.caption(services.md_escape(f"Addressed to {payload.get('addressed_to')}; they answer it in the chat."))
        return
    if review["status"] != "pending":
        _decision(review)
    left, right = st.columns(2, gap="large")
    with left:
        _request(payload)
        _proposal(review, payload)
    with right:
        _preview(payload.get("preview") or {})
        _path(review, payload)
    _signals(review, payload)
    _checks(payload.get("checks") or [])
    _evidence(payload.get("evidence") or [], payload.get("tool_calls") or [])
    _history(review, payload)
    st.divider()
    if outcome:  # where the reviewer's eyes are: just below the form they submitted
        _outcome(*outcome)
    if review["status"] == "pending":
        st.session_state[f"review_seen:{review_id}"] = review["payload_hash"]
        _form(user, review, payload)
    else:
        st.page_link("inbox.py", label="Back to the inbox", icon=":material/inbox:")


def _header(review: dict[str, Any]) -> None:
    amount = f" of {services.number(review['amount'])}" if review["amount"] is not None else ""
    title = f"{review['action'] or 'Question'}{amount}" if review["kind"] == "review" else "Question"
    st.title(services.md_escape(title))
    st.caption(
        services.md_escape(
            f"Review {review['id']} · {review['agent']} agent · requested by {review['requester']} · "
            f"created {services.age(review['created_at'])} ago · status {review['status'].replace('_', ' ')}"
        )
    )
    links = st.columns([1, 1, 3])
    links[0].page_link("inbox.py", label="Inbox", icon=":material/inbox:")
    links[1].page_link(
        "thread.py",
        label=f"Thread {review['thread_id']}",
        icon=":material/timeline:",
        query_params={"id": review["thread_id"]},
    )


@st.fragment(run_every=services.refresh_seconds())
def status_panel(review_id: str, shown_status: str, fallback: str) -> None:
    """The deadline counting down; redraws the page as soon as the review's status changes."""
    if services.current_user() is None:
        st.rerun()
    review = reviews.get(services.runner().db, review_id)
    if review["status"] != shown_status:
        st.rerun()
    columns = st.columns(4)
    if review["status"] == "pending":
        columns[0].metric("Deadline", services.countdown(review["deadline"]))
        columns[1].metric("Risk", services.number(review["risk"]))
        columns[2].metric("Confidence", services.number(review["confidence"]))
        columns[3].metric("Approvals needed", review["approvals_required"])
        st.caption(
            services.md_escape(f"Due {services.local_time(review['deadline'])}; if nobody decides by then: {fallback}.")
        )
    else:
        columns[0].metric("Status", review["status"].replace("_", " "))
        columns[1].metric("Decided by", services.md_escape(review["decided_by"] or "-"))
        columns[2].metric("Decided", f"{services.age(review['decided_at'])} ago")


def _outcome(kind: str, message: str) -> None:
    text = services.md_escape(message)
    if kind == "success":
        st.toast(text, icon=":material/check_circle:")
        st.success(text, icon=":material/check_circle:")
    elif kind == "conflict":
        st.warning("Someone else got there first. " + text, icon=":material/group:")
    else:
        st.error(text, icon=":material/error:")


def _decision(review: dict[str, Any]) -> None:
    decision = review["decision"] or {}
    with st.container(border=True):
        st.subheader("Decision")
        services.text_table(
            [
                {"": "Status", "value": review["status"].replace("_", " ")},
                {"": "Decided by", "value": review["decided_by"] or "-"},
                {"": "When", "value": services.local_time(review["decided_at"])},
                {"": "Decision", "value": decision.get("type") or "-"},
                {"": "Reason category", "value": decision.get("category") or "-"},
                {"": "Approvers", "value": services.join_roles(decision.get("approvers") or [])},
            ],
            hide_header=True,
        )
        if decision.get("comment") or decision.get("message"):
            st.caption("Comment")
            st.text(decision.get("comment") or decision.get("message"))
        edited = (decision.get("edited_action") or {}).get("args")
        if edited:
            original = review["args"] or {}
            st.caption("Edits")
            services.text_table(
                [
                    {"argument": name, "proposed": original.get(name), "approved": edited.get(name)}
                    for name in sorted(set(original) | set(edited))
                    if original.get(name) != edited.get(name)
                ]
            )


def _request(payload: dict[str, Any]) -> None:
    st.subheader("Original request")
    st.text(payload.get("request") or "")
    turns = payload.get("conversation") or []
    if len(turns) > 1:
        with st.expander(f"Conversation ({len(turns)} messages)"):
            for turn in turns:
                st.caption(services.md_escape(turn.get("role", "")))
                st.text(turn.get("text", ""))
    facts = payload.get("facts") or {}
    if facts:
        with st.expander("Records looked up"):
            st.json(facts, expanded=True)


def _proposal(review: dict[str, Any], payload: dict[str, Any]) -> None:
    st.subheader("Proposed action")
    request = (payload.get("action_requests") or [{}])[0]
    st.text(f"{request.get('name')}: {request.get('description', '')}")
    args = request.get("args") or {}
    services.text_table([{"argument": k, "value": v} for k, v in args.items()])
    if payload.get("draft"):
        st.caption("Draft the requester will see")
        st.code(str(payload["draft"]), language="text", wrap_lines=True)
    reasons = review["reasons"] or []
    if reasons:
        st.caption("Why a person reviews this")
        for reason in reasons:
            st.text(f"• {reason}")


def _preview(preview: dict[str, Any]) -> None:
    st.subheader("What happens if approved")
    if not preview:
        st.caption("No preview for this action.")
    for key, value in preview.items():
        st.caption(services.md_escape(key.replace("_", " ").capitalize()))
        if key == "error":
            st.warning(services.md_escape(value))
        elif isinstance(value, str):
            st.code(value, language="diff" if "diff" in key else "text", wrap_lines=True)
        elif isinstance(value, dict) and any(_is_change(v) for v in value.values()):
            # A config diff: each changed field as now -> after, the rest as context.
            services.text_table([{"": k, "now": v[0], "after": v[1]} for k, v in value.items() if _is_change(v)])
            context = [{"": k, "value": v} for k, v in value.items() if not _is_change(v)]
            services.text_table(context, hide_header=True)
        elif isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            st.text("\n".join(f"• {v}" for v in value) or "(none)")
        else:
            st.json(value, expanded=True)


def _is_change(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2


def _evidence(evidence: list[dict[str, Any]], tool_calls: list[dict[str, Any]]) -> None:
    st.subheader("Evidence")
    if evidence:
        frame = pd.DataFrame(
            [
                {
                    "source": e.get("source"),
                    "id": e.get("id"),
                    "title": e.get("title"),
                    "score": float(e.get("score") or 0),
                    "excerpt": e.get("snippet") or e.get("text"),
                }
                for e in evidence
            ]
        )
        st.dataframe(
            frame,
            hide_index=True,
            width="stretch",
            column_config={"score": st.column_config.ProgressColumn("score", min_value=0, max_value=1, format="%.2f")},
        )
    else:
        st.caption("No sources were retrieved.")
    st.subheader("Tool calls already made")
    if tool_calls:
        services.text_table(
            [{"tool": t.get("name"), "arguments": t.get("args"), "result": t.get("result")} for t in tool_calls]
        )
    else:
        st.caption("None.")


def _signals(review: dict[str, Any], payload: dict[str, Any]) -> None:
    weights = load_policy(review["agent"]).confidence_weights
    left, right = st.columns(2, gap="large")
    left.subheader(f"Confidence {services.number(review['confidence'])}")
    left.dataframe(
        pd.DataFrame(
            [
                {
                    "signal": s["name"],
                    "value": float(s["value"]),
                    "weight": weights.get(s["name"], 0.0),
                    "based on": s.get("detail"),
                }
                for s in payload.get("confidence_signals") or []
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config={"value": st.column_config.ProgressColumn("value", min_value=0, max_value=1, format="%.2f")},
    )
    right.subheader(f"Risk {services.number(review['risk'])}")
    right.dataframe(
        pd.DataFrame(
            [
                {"signal": s["name"], "value": float(s["value"]), "based on": s.get("detail")}
                for s in payload.get("risk_signals") or []
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config={"value": st.column_config.ProgressColumn("value", min_value=0, max_value=1, format="%.2f")},
    )


def _checks(checks: list[dict[str, Any]]) -> None:
    failed = [c for c in checks if not c["passed"]]
    st.subheader(f"Policy checks ({len(failed)} of {len(checks)} failed)")
    ordered = failed + [c for c in checks if c["passed"]]
    services.text_table(
        [
            {
                "check": c["id"],
                "result": "passed" if c["passed"] else f"FAILED: {c['outcome']}",
                "rule": c["rule"],
                "detail": c.get("detail") or "",
            }
            for c in ordered
        ]
    )


def _path(review: dict[str, Any], payload: dict[str, Any]) -> None:
    st.subheader("Alternatives")
    for alternative in payload.get("alternatives") or ["None offered."]:
        st.text(f"• {alternative}")
    st.subheader("Undo plan")
    st.text(payload.get("undo_plan") or "-")
    st.caption("Reversible" if payload.get("reversible") else "Not reversible: two distinct approvers are needed")
    st.subheader("Escalation path")
    tier = payload.get("tier") or {}
    steps = [f"now: {tier.get('name')} ({services.join_roles(tier.get('roles', []))})"]
    steps += [f"next: {t['name']} ({services.join_roles(t['roles'])})" for t in payload.get("escalation_path") or []]
    if len(steps) == 1:
        steps.append("no tier above this one: escalating refuses the request")
    st.text("\n".join(steps))
    approvals = review.get("approvals") or []
    if review["approvals_required"] > 1:
        names = ", ".join(a["reviewer"] for a in approvals) or "none yet"
        st.caption(
            services.md_escape(f"Needs {review['approvals_required']} distinct approvers; approved so far: {names}.")
        )


def _history(review: dict[str, Any], payload: dict[str, Any]) -> None:
    st.subheader("Earlier decisions on this thread")
    history = payload.get("history") or []
    others = review.get("thread_reviews") or []
    if not history and not others:
        st.caption("None: this is the first review on the thread.")
        return
    if history:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "when": services.local_time(d.get("at")) if d.get("at") else "-",
                        "tier": d.get("tier"),
                        "decision": d.get("type"),
                        "by": d.get("reviewer") or "deadline",
                        "category": d.get("category") or "",
                        "comment": d.get("comment") or "",
                    }
                    for d in history
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    if others:
        st.caption("Other reviews and questions on this thread")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "review": r["id"],
                        "kind": r["kind"],
                        "tier": r["tier_name"],
                        "status": r["status"],
                        "by": r["decided_by"] or "",
                    }
                    for r in others
                ]
            ),
            hide_index=True,
            width="stretch",
        )


# -- the decision form --------------------------------------------------------------------------------
def _form(user: User, review: dict[str, Any], payload: dict[str, Any]) -> None:
    allowed, why = services.may_decide(user, review)
    if not allowed:
        st.info(services.md_escape(why), icon=":material/lock:")
        return
    config = (payload.get("review_configs") or [{}])[0]
    kinds = [k for k in ("approve", "edit", "reject") if k in config.get("allowed_decisions", [])]
    kinds += [k for k in payload.get("extra_decisions") or [] if k in DECISION_LABELS]
    if not payload.get("escalation_path") and "escalate" in kinds:
        kinds.remove("escalate")
    kinds.sort(key=list(DECISION_LABELS).index)
    schema = config.get("args_schema") or {}
    original = (payload.get("action_requests") or [{}])[0].get("args") or {}
    rid = review["id"]
    with st.form(f"decide:{rid}", border=True):
        st.subheader("Your decision")
        st.caption("Change any argument and choose 'Approve with edits'; the edit is checked against the schema.")
        fields = _edit_fields(rid, schema, original)
        st.text_area("Comment", key=f"{rid}:comment", placeholder="Why; for 'Request more information', the question")
        st.selectbox(
            "Reason category (required for edits and rejections)",
            [None, *CATEGORIES],
            key=f"{rid}:category",
            format_func=lambda c: "Choose a category" if c is None else c.replace("_", " "),
        )
        buttons = st.columns(len(kinds))
        for column, kind in zip(buttons, kinds, strict=True):
            column.form_submit_button(
                DECISION_LABELS[kind],
                key=f"{rid}:{kind}",
                type="primary" if kind == "approve" else "secondary",
                on_click=_decide,
                args=(rid, kind, fields),
            )


def _resolve(prop: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref` and drop the `null` branch of an optional field."""
    if "$ref" in prop:
        name = str(prop["$ref"]).rsplit("/", 1)[-1]
        prop = {**schema.get("$defs", {}).get(name, {}), **{k: v for k, v in prop.items() if k != "$ref"}}
    options = [p for p in prop.get("anyOf", []) if p.get("type") != "null"]
    if len(options) == 1:
        prop = {**_resolve(options[0], schema), **{k: v for k, v in prop.items() if k != "anyOf"}}
    return prop


def _edit_fields(rid: str, schema: dict[str, Any], args: dict[str, Any]) -> dict[str, str]:
    """One input per argument of the action's JSON Schema; returns argument name -> input kind."""
    fields: dict[str, str] = {}
    for name, raw in (schema.get("properties") or {}).items():
        prop = _resolve(raw, schema)
        label = str(prop.get("title") or name)
        help_text = prop.get("description")
        current = args.get(name, prop.get("default"))
        key = f"{rid}:arg:{name}"
        kind = prop.get("type")
        if "enum" in prop:
            options = list(prop["enum"])
            index = options.index(current) if current in options else 0
            st.selectbox(label, options, index=index, key=key, help=help_text)
            fields[name] = "enum"
        elif kind == "number":
            st.number_input(
                label,
                value=float(current or 0),
                min_value=_bound(prop, "minimum", "exclusiveMinimum"),
                max_value=_bound(prop, "maximum", "exclusiveMaximum"),
                step=1.0,
                format="%.2f",
                key=key,
                help=help_text,
            )
            fields[name] = "number"
        elif kind == "integer":
            st.number_input(label, value=int(current or 0), step=1, key=key, help=help_text)
            fields[name] = "integer"
        elif kind == "boolean":
            st.checkbox(label, value=bool(current), key=key, help=help_text)
            fields[name] = "boolean"
        elif kind == "string":
            text = "" if current is None else str(current)
            if (prop.get("maxLength") or 10_000) > 200:
                st.text_area(label, value=text, key=key, help=help_text, height=140)
            else:
                st.text_input(label, value=text, key=key, help=help_text)
            fields[name] = "string"
        else:
            st.text_area(f"{label} (JSON)", value=json.dumps(current, indent=2), key=key, help=help_text)
            fields[name] = "json"
    return fields


def _bound(prop: dict[str, Any], inclusive: str, exclusive: str) -> float | None:
    value = prop.get(inclusive, prop.get(exclusive))
    return float(value) if isinstance(value, (int, float)) else None


def _edited_args(rid: str, fields: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, kind in fields.items():
        value = st.session_state.get(f"{rid}:arg:{name}")
        if kind == "json":
            try:
                value = json.loads(value or "null")
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name} is not valid JSON: {exc.msg}") from None
        elif kind == "integer" and value is not None:
            value = int(value)
        values[name] = value
    return values


def _decide(rid: str, kind: str, fields: dict[str, str]) -> None:
    """Send the decision to the runtime (a button's callback, so it runs before the page redraws)."""
    key = f"review_outcome:{rid}"
    user = services.current_user()
    if user is None:
        st.session_state[key] = ("error", "Your session has ended (logged out or expired); log in again.")
        return
    comment = (st.session_state.get(f"{rid}:comment") or "").strip() or None
    category = st.session_state.get(f"{rid}:category")
    if kind == "request_info" and not comment:
        st.session_state[key] = ("error", "Write the question for the requester in the comment.")
        return
    if kind in ("edit", "reject") and not category:
        st.session_state[key] = ("error", f"Choose a reason category to {DECISION_LABELS[kind].lower()}.")
        return
    try:
        args = _edited_args(rid, fields) if kind == "edit" else None
        result = services.runner().decide(
            rid,
            kind,
            user.name,
            args=args,
            comment=comment,
            category=category,
            seen_hash=st.session_state.get(f"review_seen:{rid}"),
            channel="app",
        )
    except ValueError as exc:
        st.session_state[key] = ("error", str(exc))
    except Conflict as exc:  # decided by someone else, or a second approval by the same person
        taken = reviews.get(services.runner().db, rid)["status"] != "pending"
        st.session_state[key] = ("conflict" if taken else "error", str(exc))
    except HitlError as exc:
        st.session_state[key] = ("error", str(exc))
    else:
        if "thread" in result:
            thread = result["thread"]
            message = f"{DECISION_LABELS[kind]}: review {result['status'].replace('_', ' ')} by {user.name}; "
            message += f"the thread is now {thread['status'].replace('_', ' ')}."
        else:
            message = str(result.get("message") or result["status"])
        st.session_state[key] = ("success", message)


main()
