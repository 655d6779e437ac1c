"""Audit: search the hash-chained audit log by thread, reviewer, action, kind and time; verify the chain.

Administrators also see the notifications that could not be delivered (dead letters) and can put one back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pandas as pd
import streamlit as st

from hitl_core import audit
from hitl_core.actions import registered
from hitl_core.canonical import iso, now_iso
from hitl_runtime import notifications
from ui import services

ANY = "Any"


def main() -> None:
    """The search form, its results, and the verify button."""
    user = services.require_user("audit")
    st.title("Audit log")
    _verify()
    if "admin" in user.roles:
        _dead_letters()
    with st.form("audit_search"):
        top = st.columns(3)
        thread_id = top[0].text_input("Thread id", key="audit_thread")
        actor = top[1].text_input("Reviewer or actor", key="audit_actor", help="A user name, agent:NAME or deadline")
        action = top[2].selectbox("Action", [ANY, *sorted(registered())], key="audit_action")
        bottom = st.columns(4)
        kind = bottom[0].text_input("Event kind", key="audit_kind", help="For example review_decided")
        since = bottom[1].date_input("From", value=None, key="audit_since")
        until = bottom[2].date_input("To", value=None, key="audit_until")
        limit = bottom[3].number_input("At most", min_value=1, max_value=5000, value=200, step=50, key="audit_limit")
        st.form_submit_button("Search the log", type="primary")
    events = audit.search(
        services.runner().db,
        thread_id=thread_id.strip() or None,
        actor=actor.strip() or None,
        kind=kind.strip() or None,
        action=None if action == ANY else action,
        since=_bound(since, time.min),
        until=_bound(until, time.max),
        limit=int(limit),
    )
    st.caption(f"{len(events)} events, newest first")
    if not events:
        return
    frame = pd.DataFrame(
        [
            {
                "when": services.local_time(e["at"]),
                "event": e["kind"],
                "by": e["actor"],
                "thread": f"/thread?id={e['thread_id']}" if e["thread_id"] else None,
                "review": e["review_id"] or "",
                "action id": e["action_id"] or "",
                "data": services.cell(e["data"]),
                "hash": e["hash"][:12],
            }
            for e in events
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={"thread": st.column_config.LinkColumn("thread", display_text=r"/thread\?id=(.*)")},
    )


def _dead_letters() -> None:
    """Notifications every attempt failed for: what, to whom, the last error; Retry puts one back in the queue."""
    runner = services.runner()
    dead = notifications.dead_letters(runner)
    counts = notifications.counts(runner)
    with st.expander(f"Undelivered notifications ({len(dead)})", expanded=bool(dead), icon=":material/notifications:"):
        st.caption(
            f"Outbox: {counts['pending']} pending, {counts['sent']} sent, {counts['skipped']} skipped (no channel), "
            f"{counts['dead']} dead. Retry puts a dead letter back; the worker (or `hitl notifications deliver`) sends it."
        )
        if not dead:
            st.caption("No undelivered notifications.")
        for row in dead:
            cells = st.columns([2.6, 2.6, 2.4, 4, 1.2])
            cells[0].text(row["id"])
            cells[1].text(row["event"])
            cells[2].text(", ".join(row["recipient"]))
            cells[3].text(services.one_line(row["last_error"], 160))
            if cells[4].button("Retry", key=f"notify_retry_{row['id']}"):
                notifications.retry(runner, row["id"])
                st.rerun()


def _bound(day: date | None, moment: time) -> str | None:
    return iso(datetime.combine(day, moment, tzinfo=UTC)) if isinstance(day, date) else None


def _verify() -> None:
    """Verify the whole chain on demand; the last result stays on the page (with when it was checked)."""
    if st.button("Verify the chain", key="audit_verify", icon=":material/verified:"):
        st.session_state["audit_verified"] = (audit.verify(services.runner().db), services.local_time(now_iso()))
    if "audit_verified" not in st.session_state:
        return
    result, checked = st.session_state["audit_verified"]
    if result.ok:
        st.success(f"Audit chain intact: {result.events} events in {result.streams} chains (checked {checked}).")
    else:
        st.error(
            services.md_escape(
                f"Audit chain broken at event {result.broken_event} (chain {result.broken_stream}): "
                f"{result.reason} (checked {checked})"
            )
        )


main()
