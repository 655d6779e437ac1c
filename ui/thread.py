"""Thread: one thread's timeline (checkpointed steps, audit events), its reviews and its actions.

The timeline merges the graph's checkpoints (each step, what runs next, where it waits for a
person) with the thread's audit chain (requests, reviews, decisions with their diffs, executions,
rollbacks). Executed actions can be rolled back by the roles that may decide them, after a
confirmation with a reason (audited, and told to the requester); the runtime checks the role again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from hitl_core import audit, ledger, reviews
from hitl_core.canonical import parse_iso
from hitl_core.errors import HitlError
from hitl_core.users import User
from hitl_runtime import access
from ui import services

MAX_STEPS = 200
CONFIRM_KEY = "rollback_confirm"  # session state: the action whose rollback waits for confirmation


def main() -> None:
    """Pick the thread from `?id=`, then show its summary, timeline, reviews and actions."""
    user = services.require_user("thread")
    st.title("Thread")
    st.page_link("inbox.py", label="Inbox", icon=":material/inbox:")
    # The address says which thread is shown; the box only navigates. A box that comes back empty
    # (Streamlit's browser side has been seen to send an empty value right after a rollback) must not
    # blank the page in the middle of a reviewer's work, so it is filled again from the address.
    thread_id = services.addressed_id("thread")
    if st.session_state.get("thread_query") != thread_id or not st.session_state.get("thread_lookup"):
        st.session_state["thread_query"] = st.session_state["thread_lookup"] = thread_id
    st.text_input("Thread id", key="thread_lookup", on_change=_look_up)
    if not thread_id:
        st.caption("Open a thread from a review, or type its id.")
        return
    runner = services.runner()
    try:
        thread = access.thread(runner, user, thread_id)  # unknown and not visible alike
        state = runner.state(thread_id)
    except HitlError as exc:
        st.error(services.md_escape(exc))
        return
    st.caption(
        services.md_escape(
            f"{thread['agent']} agent · requested by {thread['requester']} · status {state.status} · "
            f"route {state.route or '-'} · started {services.local_time(thread['created_at'])}"
        )
    )
    st.caption("Last request")
    st.text(thread["last_request"] or "")
    if state.reply:
        st.caption("Reply to the requester")
        st.text(state.reply)
    outcome = st.session_state.pop("thread_outcome", None)
    if outcome:
        (st.success if outcome[0] == "success" else st.error)(services.md_escape(outcome[1]))
    _actions(user, thread)
    _reviews(thread_id)
    _timeline(thread, runner)


def _look_up() -> None:
    """A thread id typed in the box: show that thread (an emptied box changes nothing)."""
    typed = str(st.session_state.get("thread_lookup") or "").strip()
    if typed:
        st.session_state["thread_query"] = typed
        services.address("thread", typed)


def _actions(user: User, thread: dict[str, Any]) -> None:
    st.subheader("Actions")
    entries = ledger.list_entries(services.runner().db, thread_id=thread["thread_id"])
    if not entries:
        st.caption("Nothing was executed on this thread.")
    for entry in entries:
        with st.container(border=True):
            services.text_table(
                [
                    {"": "Action", "value": f"{entry['name']} ({entry['id']})"},
                    {"": "Arguments", "value": entry["args"]},
                    {"": "Effect", "value": entry["effect"]},
                    {"": "Executed", "value": f"{services.local_time(entry['executed_at'])} by {entry['executed_by']}"},
                    {"": "Status", "value": entry["status"].replace("_", " ")},
                    {"": "Undo plan", "value": entry["undo_plan"] or "-"},
                ]
                + (
                    [
                        {
                            "": "Rolled back",
                            "value": f"{services.local_time(entry['rolled_back_at'])} by {entry['rolled_back_by']}",
                        }
                    ]
                    if entry["rolled_back_at"]
                    else []
                ),
                hide_header=True,
            )
            if (
                entry["status"] == "executed"
                and entry["reversible"]
                and services.may_roll_back(user, thread["agent"], entry["name"])
            ):
                if st.session_state.get(CONFIRM_KEY) == entry["id"]:
                    _confirm(entry)
                else:
                    st.button(
                        f"Roll back {entry['id']}",
                        key=f"rollback:{entry['id']}",
                        icon=":material/undo:",
                        on_click=_ask_to_confirm,
                        args=(entry["id"],),
                    )


def _ask_to_confirm(action_id: str) -> None:
    st.session_state[CONFIRM_KEY] = action_id


def _confirm(entry: dict[str, Any]) -> None:
    """The second step of a rollback: what it undoes, the reason (required), confirm or cancel."""
    action_id = entry["id"]
    st.warning(
        services.md_escape(
            f"Roll back {entry['name']} {action_id}? {entry['undo_plan'] or 'Its effect is undone.'} "
            "The reason is recorded in the audit log and told to the requester in their conversation."
        ),
        icon=":material/undo:",
    )
    error = st.session_state.pop(f"rollback_error:{action_id}", None)
    st.text_area("Reason for the rollback (the requester is told)", key=f"rollback_reason:{action_id}", max_chars=2000)
    if error:
        st.error(services.md_escape(error))
    left, right, _ = st.columns([1, 1, 3])
    left.button(
        "Confirm rollback", key=f"rollback_confirm:{action_id}", type="primary", on_click=_roll_back, args=(action_id,)
    )
    right.button("Cancel", key=f"rollback_cancel:{action_id}", on_click=st.session_state.pop, args=(CONFIRM_KEY, None))


def _roll_back(action_id: str) -> None:
    user = services.current_user()
    if user is None:
        st.session_state["thread_outcome"] = ("error", "Your session has ended; log in again.")
        return
    reason = str(st.session_state.get(f"rollback_reason:{action_id}") or "").strip()
    if not reason:
        st.session_state[f"rollback_error:{action_id}"] = "Write the reason for the rollback; the requester is told."
        return
    st.session_state.pop(CONFIRM_KEY, None)
    try:
        result = services.runner().rollback(action_id, user.name, reason=reason)
    except HitlError as exc:
        st.session_state["thread_outcome"] = ("error", str(exc))
    else:
        told = (
            "the requester was told in their conversation"
            if result.get("told")
            else "the requester's conversation is waiting for someone, so they were not told there (the audit has it)"
        )
        st.session_state["thread_outcome"] = (
            "success",
            f"{result['name']} {result['id']} rolled back by {user.name}; {told}.",
        )


def _reviews(thread_id: str) -> None:
    st.subheader("Reviews and questions")
    rows = reviews.for_thread(services.runner().db, thread_id)
    if not rows:
        st.caption("None: everything on this thread ran without a person.")
    for row in rows:
        cells = st.columns([3, 2, 2, 2])
        cells[0].page_link("review.py", label=f"{row['id']} ({row['kind']})", query_params={"id": row["id"]})
        cells[1].text(row["tier_name"] or "-")
        cells[2].text(row["status"].replace("_", " "))
        cells[3].text(row["decided_by"] or "-")


def _when(value: str) -> datetime:
    try:
        return parse_iso(value)
    except ValueError:
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timeline(thread: dict[str, Any], runner: Any) -> None:
    st.subheader("Timeline")
    events: list[tuple[datetime, dict[str, Any]]] = []
    for event in audit.thread_history(runner.db, thread["thread_id"]):
        events.append(
            (
                _when(event["at"]),
                {"source": "audit", "event": event["kind"], "by": event["actor"], "detail": event["data"]},
            )
        )
    history = runner.graph(thread["agent"]).get_state_history(runner.config(thread["thread_id"]), limit=MAX_STEPS)
    for snapshot in history:
        if not snapshot.created_at:
            continue
        metadata = snapshot.metadata or {}
        waiting = [i.value.get("kind", "review") for i in snapshot.interrupts if isinstance(i.value, dict)]
        detail = "next: " + (", ".join(snapshot.next) or "(end)")
        if waiting:
            detail += " · waiting for " + ", ".join(
                "the requester" if w == "question" else "a reviewer" for w in waiting
            )
        events.append(
            (
                _when(snapshot.created_at),
                {"source": "checkpoint", "event": f"step {metadata.get('step')}", "by": "graph", "detail": detail},
            )
        )
    events.sort(key=lambda item: item[0])
    services.text_table(
        [
            {"when": moment.strftime("%H:%M:%S.%f")[:-3] + " " + moment.strftime("%Y-%m-%d"), **row}
            for moment, row in events
        ]
    )


main()
