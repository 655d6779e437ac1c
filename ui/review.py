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

from hitl_core import audit, reviews
from hitl_core.canonical import now_iso
from hitl_core.errors import Conflict, HitlError
from hitl_core.feedback import CATEGORIES
from hitl_core.users import User
from hitl_runtime import access, review_screen
from ui import services

# What an empty preview field means, where a plain "None" would not say it (no bare strings: Streamlit magic).
EMPTY_PREVIEW = {"supersedes": "No earlier finding: this is the first one on the subject."}
DECISION_LABELS = {
    "approve": "Approve",
    "edit": "Approve with edits",
    "reject": "Reject",
    "request_info": "Request more information",
    "escalate": "Escalate",
    "ignore": "Dismiss",
}
DISMISS_KEY = "dismiss_confirm"  # session state: the review whose dismissal waits for confirmation


def main() -> None:
    """Load the review named in `?id=`, show it, and offer the decisions the user may take."""
    user = services.require_user("review")
    review_id = services.addressed_id("review")
    if not review_id:
        st.info("Open a review from the inbox.")
        st.page_link("inbox.py", label="Go to the inbox", icon=":material/inbox:")
        return
    outcome = st.session_state.pop(f"review_outcome:{review_id}", None)
    try:
        review = access.review(services.runner(), user, review_id)  # unknown and not visible alike
    except HitlError as exc:
        if outcome:  # what became of this user's own decision (say, refused: their role was taken away)
            _outcome(*outcome)
        st.error(services.md_escape(exc))
        return
    opened_as = st.session_state.setdefault(f"review_opened:{review_id}", review["status"])
    summary = review_screen.summary(review)
    _header(review, summary)
    if not outcome and opened_as == "pending" and review["status"] != "pending" and review["decided_by"] != user.name:
        st.warning(
            services.md_escape(
                f"Someone else decided this review while you had it open: {review['status']} by "
                f"{review['decided_by']} at {services.local_time(review['decided_at'])}."
            ),
            icon=":material/group:",
        )
    payload = review["interrupt"]
    if review["kind"] == "question":
        status_panel(review_id, review["status"], payload.get("expiry_fallback") or "the policy's fallback")
        st.subheader("Question to the requester")
        st.text(payload.get("question", ""))
        st.caption(services.md_escape(f"Addressed to {payload.get('addressed_to')}; they answer it in the chat."))
        return
    # The summary and the decision side by side, so the decision is in view without scrolling.
    left, right = st.columns(2, gap="large")
    with left:
        _summary(summary)
        status_panel(review_id, review["status"], payload.get("expiry_fallback") or "the policy's fallback")
    with right:
        if review["status"] == "pending":
            st.session_state[f"review_seen:{review_id}"] = review["payload_hash"]
            _form(user, review, payload, outcome)  # the outcome inside the form, by its buttons
        else:
            if outcome:  # where the reviewer's eyes are: where the form they submitted was
                _outcome(*outcome)
            _decision(review, show_failure=not outcome)
            _next_review(user, review_id)
    _checks(payload.get("checks") or [])
    _signals(review)
    left, right = st.columns(2, gap="large")
    with left:
        _request(payload)
        _proposal(review, payload, summary)
    with right:
        _preview(summary["preview"], edited=summary["edited"])
        _path(review, payload)
    _evidence(payload.get("evidence") or [], payload.get("tool_calls") or [])
    _history(review, payload)


def _money(summary: dict[str, Any]) -> str:
    """`45.00 USD`, or '' without an amount."""
    if summary["amount"] is None:
        return ""
    return services.number(summary["amount"]) + (f" {summary['currency']}" if summary["currency"] else "")


def _summary(summary: dict[str, Any]) -> None:
    """What the reviewer decides on, in a few lines: what, for whom, how much, why, who escalated, approvals, when."""
    esc = services.md_escape
    lines = [
        f"**What:** {esc(summary['action'])}" + (f" · {esc(summary['description'])}" if summary["description"] else "")
    ]
    lines.append(
        f"**For:** {esc(summary['requester'])}" + (f" · **on:** {esc(summary['target'])}" if summary["target"] else "")
    )
    if summary["amount"] is not None:
        lines.append(f"**Amount:** {esc(_money(summary))}")
    reasons = "; ".join(summary["reasons"]) or "the policy routes this action to a person"
    lines.append(f"**Why it is here:** {esc(reasons)}")
    escalated = summary["escalated"]
    if escalated:
        note = f": “{escalated['note']}”" if escalated["note"] else " (no note)"
        lines.append(f"**Escalated by:** {esc(escalated['by'])} from {esc(escalated['from_tier'])}{esc(note)}")
    approvals = summary["approvals"]
    if approvals["required"] > 1:
        by = f" (by {', '.join(approvals['by'])})" if approvals["by"] else " (none yet)"
        lines.append(f"**Approvals:** {approvals['count']} of {approvals['required']}{esc(by)}")
    else:
        lines.append(f"**Approvals:** one reviewer decides ({esc(summary['tier'])})")
    if summary["deadline"]:
        due = f"{services.countdown(summary['deadline'])} ({services.local_time(summary['deadline'])})"
        lines.append(f"**Deadline:** {esc(due)}")
    with st.container(border=True):
        st.markdown("  \n".join(lines))


def _next_review(user: User, review_id: str) -> None:
    """Open the next pending review this user may decide (the inbox's default order), or say there is none."""
    if st.button("Next review", key=f"{review_id}:next", icon=":material/skip_next:"):
        following = review_screen.next_review(services.runner(), user, after=review_id)
        if following is None:
            st.info("No other pending review is waiting for you.", icon=":material/inbox:")
        else:
            services.address("review", following)
            st.rerun()
    st.page_link("inbox.py", label="Back to the inbox", icon=":material/inbox:")


def _header(review: dict[str, Any], summary: dict[str, Any]) -> None:
    money = _money(summary)
    action = f"{summary['action'] or 'Question'}{f' of {money}' if money else ''}"
    edited = " as edited" if summary["edited"] else ""
    target = f" · {summary['target']}" if summary["target"] else ""
    title = f"{action}{edited}{target}" if review["kind"] == "review" else "Question"
    st.title(services.md_escape(title))
    st.caption(
        services.md_escape(
            f"Review {review['id']} · {review['agent']} agent · requested by {review['requester']} · "
            f"created {services.age(review['created_at'])} ago · status {review['status'].replace('_', ' ')}"
        )
    )
    links = st.columns([1, 4])
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
    if services.current_user(activity=False) is None:
        st.rerun()
    review = reviews.get(services.runner().db, review_id)
    if review["status"] != shown_status:
        st.rerun()
    columns = st.columns([2, 1, 1] if review["status"] == "pending" else [1, 1, 1])
    if review["status"] == "pending":
        columns[0].metric("Deadline", services.countdown(review["deadline"]))
        columns[1].metric("Risk", services.number(review["risk"]))
        columns[2].metric("Confidence", services.number(review["confidence"]))
        st.caption(
            services.md_escape(f"Due {services.local_time(review['deadline'])}; if nobody decides by then: {fallback}.")
        )
    else:
        columns[0].metric("Status", review["status"].replace("_", " "))
        columns[1].metric("Decided by", services.md_escape(review["decided_by"] or "-"))
        columns[2].metric("Decided", f"{services.age(review['decided_at'])} ago")


def _outcome(kind: str, message: str) -> None:
    """What became of the reviewer's decision: done (green), waiting elsewhere, or refused or failed (red)."""
    text = services.md_escape(message)
    if kind == "success":
        st.toast(text, icon=":material/check_circle:")
        st.success(text, icon=":material/check_circle:")
    elif kind == "info":
        st.info(text, icon=":material/hourglass_top:")
    elif kind == "conflict":
        st.warning("Someone else got there first. " + text, icon=":material/group:")
    elif kind == "late":
        st.error(text, icon=":material/timer_off:")
    elif kind == "failed":
        st.error(text, icon=":material/report:")
    else:
        st.error(text, icon=":material/error:")


def _execution_failure(review: dict[str, Any]) -> str | None:
    """Why the action this review approved could not be carried out (from the audit trail), or None."""
    failed = [
        e
        for e in audit.thread_history(services.runner().db, review["thread_id"])
        if e["kind"] in ("action_failed", "execution_refused") and e.get("review_id") == review["id"]
    ]
    if not failed:
        return None
    data = failed[-1]["data"] or {}
    return _failure_message(str(data.get("action") or review["action"] or "action"), str(data.get("error") or ""))


def _failure_message(action: str, error: str) -> str:
    return (
        f"The decision was recorded, but the {action} could not be carried out: {error or 'the run failed'}. "
        "Nothing was changed, and the requester was told it could not be done. The app offers no retry: "
        "the requester can ask again in the chat, which opens a new review."
    )


def _decision(review: dict[str, Any], *, show_failure: bool = True) -> None:
    decision = review["decision"] or {}
    with st.container(border=True):
        st.subheader("Decision")
        failure = _execution_failure(review) if show_failure and review["status"].startswith("approved") else None
        if failure:
            st.error(services.md_escape(failure), icon=":material/report:")
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
                    {"argument": name, "proposed": _plain(original.get(name)), "approved": _plain(edited.get(name))}
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
        with st.expander(f"Records looked up ({len(facts)})"):
            for name, record in facts.items():
                st.caption(services.md_escape(str(name).replace("_", " ").capitalize()))
                _fields(record)


def _proposal(review: dict[str, Any], payload: dict[str, Any], summary: dict[str, Any]) -> None:
    st.subheader("Approved action as edited" if summary["edited"] else "Proposed action")
    request = (payload.get("action_requests") or [{}])[0]
    st.text(f"{request.get('name')}: {request.get('description', '')}")
    services.text_table([{"argument": k, "value": _plain(v)} for k, v in summary["args"].items()])
    if payload.get("draft"):
        st.caption("Draft the requester will see")
        st.code(str(payload["draft"]), language="text", wrap_lines=True)
    reasons = review["reasons"] or []
    if reasons:
        st.caption("Why a person reviews this")
        for reason in reasons:
            st.text(f"• {reason}")


def _preview(preview: dict[str, Any], *, edited: bool = False) -> None:
    st.subheader("What the approved edit does" if edited else "What happens if approved")
    if not preview:
        st.caption("No preview for this action.")
    for key, value in preview.items():
        st.caption(services.md_escape(key.replace("_", " ").capitalize()))
        if key == "error":
            st.warning(services.md_escape(value))
        elif value is None or value == [] or value == {}:
            st.text(EMPTY_PREVIEW.get(key, "None"))
        elif isinstance(value, dict) and not any(isinstance(v, (dict, list)) for v in value.values()):
            services.text_table([{"": k.replace("_", " "), "value": v} for k, v in value.items()], hide_header=True)
        elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
            services.text_table([{k: _plain(v) for k, v in row.items()} for row in value])
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
            _fields(value)


def _plain(value: Any) -> str:
    """A value as readable text for one table cell: `key: value` pairs and lists, never JSON."""
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {_plain(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value) or "-"
    return "-" if value is None else str(value)


def _fields(value: Any) -> None:
    """A record (or anything) as a two-column table of readable fields; lists of records as a table."""
    if isinstance(value, dict):
        rows = [{"": str(k).replace("_", " "), "value": _plain(v)} for k, v in value.items()]
        services.text_table(rows, hide_header=True)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        services.text_table([{k: _plain(v) for k, v in row.items()} for row in value])
    else:
        st.text(_plain(value))


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
            [
                {"tool": t.get("name"), "arguments": _plain(t.get("args")), "result": _plain(t.get("result"))}
                for t in tool_calls
            ]
        )
    else:
        st.caption("None.")


def _signals(review: dict[str, Any]) -> None:
    """Each signal against the policy's thresholds, so good readings read apart from bad ones."""
    rows = review_screen.signals(review)
    mark = {"good": "✓ good", "borderline": "~ borderline", "bad": "✗ bad"}
    left, right = st.columns(2, gap="large")
    for column, kind, title in ((left, "confidence", "Confidence"), (right, "risk", "Risk")):
        column.subheader(f"{title} {services.number(review[kind])}")
        if not rows[kind]:
            column.caption("No signals.")
            continue
        column.caption(services.md_escape(f"Against the policy's thresholds: {rows[kind][0]['threshold']}."))
        # A static table, so what a reading is based on wraps instead of being clipped by a grid's cell.
        frame = pd.DataFrame(
            [
                {k: services.md_escape(_signal_cell(k, v, mark)) for k, v in r.items() if k != "threshold"}
                for r in rows[kind]
            ]
        )
        column.table(frame.style.map(_reading_colour, subset=["reading"]), hide_index=True)


def _signal_cell(column: str, value: Any, mark: dict[str, str]) -> str:
    if column == "reading":
        return mark[value]
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _reading_colour(reading: str) -> str:
    colour = {"✓": "#1b7f3b", "~": "#9a6b00", "✗": "#b3261e"}.get(reading.lstrip("\\")[:1], "inherit")  # escaped "~"
    return f"color: {colour}; font-weight: 600"


def _checks(checks: list[dict[str, Any]]) -> None:
    """Failed and warning checks first, in full; the passed ones collapsed under their count."""
    failed = [c for c in checks if not c["passed"]]
    st.subheader(f"Policy checks ({len(failed)} of {len(checks)} failed)")
    if failed:
        services.text_table(
            [
                {
                    "check": c["id"],
                    "result": f"FAILED: {c['outcome']}",
                    "rule": c["rule"],
                    "detail": c.get("detail") or "",
                }
                for c in failed
            ]
        )
    else:
        st.caption("No check failed.")
    passed = [c for c in checks if c["passed"]]
    if passed:
        with st.expander(f"Passed checks ({len(passed)})"):
            services.text_table(
                [
                    {"check": c["id"], "result": "passed", "rule": c["rule"], "detail": c.get("detail") or ""}
                    for c in passed
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
    if history:  # a static table: a reviewer's comment (why it is here) wraps instead of being clipped
        services.text_table(
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
def _form(user: User, review: dict[str, Any], payload: dict[str, Any], outcome: tuple[str, str] | None) -> None:
    allowed, why = services.may_decide(user, review)
    if not allowed:
        if outcome:
            _outcome(*outcome)
        st.info(services.md_escape(why), icon=":material/lock:")
        _next_review(user, review["id"])
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
        st.text_area(
            "Comment",
            key=f"{rid}:comment",
            placeholder="Why; for 'Request more information', the question",
            height=90,
        )
        st.caption(
            "The requester reads this comment word for word when you reject (as the reason), approve with edits "
            "(as the reason for the change) or request more information (as the question). Other decisions keep "
            "it in the audit trail only."
        )
        st.selectbox(
            "Reason category (required for edits and rejections)",
            [None, *CATEGORIES],
            key=f"{rid}:category",
            format_func=lambda c: "Choose a category" if c is None else c.replace("_", " "),
        )
        fields: dict[str, Any] = {}  # filled below; the buttons' callbacks read it on the next run
        for start in range(0, len(kinds), 2):  # two buttons a row: every label fits on one line
            row = st.columns(2)
            for column, kind in zip(row, kinds[start : start + 2], strict=False):
                column.form_submit_button(
                    DECISION_LABELS[kind],
                    key=f"{rid}:{kind}",
                    type="primary" if kind == "approve" else "secondary",
                    on_click=_decide,
                    args=(rid, kind, fields),
                    width="stretch",
                )
        dismissable = services.may_dismiss(user, review)
        if dismissable:
            st.form_submit_button(
                DECISION_LABELS["ignore"],
                key=f"{rid}:ignore",
                icon=":material/do_not_disturb_on:",
                on_click=_ask_to_dismiss,
                args=(rid,),
                width="stretch",
            )
        if review["deadline"] and review["deadline"] < now_iso():
            st.warning(
                services.md_escape(
                    f"This review passed its deadline ({services.countdown(review['deadline'])}): a decision now "
                    "is refused and the policy's fallback applies instead."
                ),
                icon=":material/timer_off:",
            )
        if outcome:  # refusals and errors next to the buttons; the inputs keep what was typed
            _outcome(*outcome)
        st.caption(
            "The arguments: change any and choose 'Approve with edits' above; the edit is checked like a new "
            "proposal (the same policy checks and preview) before it is accepted."
        )
        fields.update(_edit_fields(rid, schema, original))
    if dismissable and st.session_state.get(DISMISS_KEY) == rid:
        _confirm_dismissal(rid)


def _ask_to_dismiss(rid: str) -> None:
    st.session_state[DISMISS_KEY] = rid


def _confirm_dismissal(rid: str) -> None:
    """The second step of a dismissal: what it does, the reason (required), confirm or cancel."""
    st.warning(
        "Dismiss this review? Nothing is carried out and the request is closed; the requester is told only "
        "that it was closed without action. Your reason is kept in the audit trail.",
        icon=":material/do_not_disturb_on:",
    )
    error = st.session_state.pop(f"dismiss_error:{rid}", None)
    st.text_area("Reason for dismissing (not shown to the requester)", key=f"{rid}:dismiss_reason", max_chars=2000)
    if error:
        st.error(services.md_escape(error))
    left, right = st.columns(2)  # halves of the decision panel: wide enough for the labels, never clipped
    left.button(
        "Confirm dismissal",
        key=f"{rid}:dismiss_confirm",
        type="primary",
        on_click=_dismiss,
        args=(rid,),
        width="stretch",
    )
    right.button(
        "Cancel",
        key=f"{rid}:dismiss_cancel",
        on_click=st.session_state.pop,
        args=(DISMISS_KEY, None),
        width="stretch",
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


def _edit_fields(rid: str, schema: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """One input per argument of the action's JSON Schema; returns argument name -> input kind.

    A list of texts is a text area with one per line; a list of records is one row of fields per
    record, plus an empty row to add one (a row left empty is dropped). Anything else is JSON.
    """
    fields: dict[str, Any] = {}
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
        elif kind == "array" and _resolve(prop.get("items") or {}, schema).get("type") == "string":
            lines = "\n".join(str(v) for v in current or [])
            st.text_area(f"{label} (one per line)", value=lines, key=key, help=help_text)
            fields[name] = "lines"
        elif kind == "array" and _resolve(prop.get("items") or {}, schema).get("type") == "object":
            fields[name] = _record_fields(key, name, _resolve(prop["items"], schema), schema, current, prop)
        else:
            text = json.dumps(current, indent=2, ensure_ascii=False)
            st.text_area(f"{label} (JSON)", value=text, key=key, help=help_text)
            fields[name] = "json"
    return fields


def _record_fields(
    key: str, name: str, item: dict[str, Any], schema: dict[str, Any], current: Any, prop: dict[str, Any]
) -> tuple[str, int, list[str]]:
    """Fields for a list of records (one row per record and an empty one); returns ("records", rows, columns)."""
    records = [r for r in current or [] if isinstance(r, dict)]
    columns = list((item.get("properties") or {}).keys())
    singular = name.removesuffix("s").replace("_", " ").capitalize()
    rows = len(records) + (1 if len(records) < int(prop.get("maxItems") or 50) else 0)
    for index in range(rows):
        record = records[index] if index < len(records) else {}
        cells = st.columns([1, 3]) if len(columns) == 2 else st.columns(max(1, len(columns)))
        for cell, column in zip(cells, columns, strict=False):
            sub = _resolve(item["properties"][column], schema)
            label = f"{singular} {index + 1}: {str(sub.get('title') or column).lower()}"
            value = record.get(column)
            widget_key = f"{key}:{index}:{column}"
            if "enum" in sub:
                options = ["", *sub["enum"]]
                cell.selectbox(label, options, index=options.index(value) if value in options else 0, key=widget_key)
            else:
                cell.text_input(label, value="" if value is None else str(value), key=widget_key)
    if rows > len(records):
        st.caption(f"Fill the last row to add one; empty a row's fields to remove it ({singular.lower()}s).")
    return ("records", rows, columns)


def _bound(prop: dict[str, Any], inclusive: str, exclusive: str) -> float | None:
    value = prop.get(inclusive, prop.get(exclusive))
    return float(value) if isinstance(value, (int, float)) else None


def _edited_args(rid: str, fields: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, kind in fields.items():
        value = st.session_state.get(f"{rid}:arg:{name}")
        if isinstance(kind, tuple):  # ("records", rows, columns): the rows not left empty
            _, rows, columns = kind
            records = [
                {c: str(st.session_state.get(f"{rid}:arg:{name}:{i}:{c}") or "").strip() for c in columns}
                for i in range(rows)
            ]
            value = [r for r in records if any(r.values())]
        elif kind == "lines":
            value = [line.strip() for line in str(value or "").splitlines() if line.strip()]
        elif kind == "json":
            try:
                value = json.loads(value or "null")
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name} is not valid JSON: {exc.msg}") from None
        elif kind == "integer" and value is not None:
            value = int(value)
        values[name] = value
    return values


def _decide(rid: str, kind: str, fields: dict[str, Any]) -> None:
    """Send the decision to the runtime (a button's callback, so it runs before the page redraws)."""
    key = f"review_outcome:{rid}"
    user = _reviewer(rid)
    if user is None:
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
    except ValueError as exc:
        st.session_state[key] = ("error", str(exc))
        return
    _send(rid, kind, user, args=args, comment=comment, category=category)


def _reviewer(rid: str) -> User | None:
    """The logged-in reviewer deciding `rid`; None, with the page told why, once the session has ended."""
    user = services.current_user()
    if user is None:
        st.session_state[f"review_outcome:{rid}"] = (
            "error",
            "Your session has ended (logged out or expired); log in again.",
        )
    return user


def _dismiss(rid: str) -> None:
    """Send a confirmed dismissal (the `ignore` decision) with its reason (a button's callback)."""
    user = _reviewer(rid)
    if user is None:
        return
    reason = str(st.session_state.get(f"{rid}:dismiss_reason") or "").strip()
    if not reason:
        st.session_state[f"dismiss_error:{rid}"] = "Write the reason for dismissing; it stays in the audit trail."
        return
    st.session_state.pop(DISMISS_KEY, None)
    _send(rid, "ignore", user, comment=reason)


def _send(
    rid: str,
    kind: str,
    user: User,
    *,
    args: dict[str, Any] | None = None,
    comment: str | None = None,
    category: str | None = None,
) -> None:
    """Hand the decision to the runtime with the payload hash shown, and keep what became of it for the page."""
    key = f"review_outcome:{rid}"
    try:
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
    except Conflict as exc:  # too late, decided by someone else, or a second approval by the same person
        status = reviews.get(services.runner().db, rid)["status"]
        if status == "expired":  # the runtime applied the policy's fallback instead
            st.session_state[key] = ("late", f"Too late: {exc}. Your decision was not applied.")
        else:
            st.session_state[key] = ("conflict" if status != "pending" else "error", str(exc))
    except HitlError as exc:
        st.session_state[key] = ("error", str(exc))
    else:
        st.session_state[key] = _result_outcome(kind, user.name, result)


def _result_outcome(kind: str, reviewer: str, result: dict[str, Any]) -> tuple[str, str]:
    """What to tell the reviewer about an accepted decision: done, waiting for another review, or failed."""
    if "thread" not in result:  # one approval of several
        return ("success", str(result.get("message") or result["status"]))
    thread = result["thread"]
    decided = f"{DECISION_LABELS[kind]}: review {result['status'].replace('_', ' ')} by {reviewer}"
    if thread["status"] == "failed":
        review = reviews.get(services.runner().db, result["review_id"])
        failure = _execution_failure(review) or _failure_message(
            str(review["action"] or "action"), "; ".join(thread.get("reasons") or [])
        )
        return ("failed", failure)
    if kind == "edit" and thread["status"] == "pending_review":
        waiting = ", ".join(thread.get("reviews") or [])
        return (
            "info",
            f"{decided}. The edited action needs another review before anything happens: it now waits for {waiting}.",
        )
    return ("success", f"{decided}; the thread is now {thread['status'].replace('_', ' ')}.")


main()
