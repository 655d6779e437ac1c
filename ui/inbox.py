"""Inbox, for reviewers: every pending review their roles can act on, across threads and agents.

One page of the reviews table at a time (`reviews.inbox` with a limit and offset), so it stays fast
however many reviews wait. Filters and sort order are the CLI's (`hitl reviews`); the list and the
counts per agent refresh themselves.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from hitl_core import reviews
from hitl_core.errors import HitlError
from hitl_runtime.agents import agent_policy
from ui import services

ALL = "All"
STATUSES = ("pending", "decided", "expired", "all")
SORT_LABELS = {
    "deadline": "Deadline (soonest first)",
    "newest": "Newest first",
    "oldest": "Oldest first",
    "risk": "Risk (highest first)",
    "amount": "Amount (largest first)",
}
PAGE_KEY = "inbox_page"


def main() -> None:
    """Filters, then the refreshing list."""
    user = services.require_user("inbox")
    st.title("Inbox")
    agents = services.visible_agents(user)
    actions = sorted({name for agent in agents for name in agent_policy(agent).actions})
    columns = st.columns(5)
    agent = columns[0].selectbox("Agent", [ALL, *agents], key="inbox_agent")
    action = columns[1].selectbox("Action", [ALL, *actions], key="inbox_action")
    status = columns[2].selectbox("Status", STATUSES, key="inbox_status")
    sort = columns[3].selectbox("Sort by", list(SORT_LABELS), key="inbox_sort", format_func=SORT_LABELS.__getitem__)
    size = columns[4].selectbox("Per page", [10, 25, 50, 100], index=1, key="inbox_size")
    filters = (agent, action, status, sort, size)
    if st.session_state.get("inbox_filters") != filters:
        st.session_state["inbox_filters"] = filters
        st.session_state[PAGE_KEY] = 0
    listing(
        agents,
        agent=None if agent == ALL else agent,
        action=None if action == ALL else action,
        status=status,
        sort=sort,
        size=int(size),
    )


@st.fragment(run_every=services.refresh_seconds())
def listing(agents: list[str], *, agent: str | None, action: str | None, status: str, sort: str, size: int) -> None:
    """Counts per agent and one page of reviews; refreshes by itself (with the user's current roles)."""
    user = services.current_user(activity=False)
    if user is None:
        st.rerun()
        return
    db = services.runner().db
    roles = services.reviewer_roles(user)
    counts = reviews.counts_by_agent(db, status="pending", roles=roles)
    metrics = st.columns(max(1, len(agents)))
    for column, name in zip(metrics, agents, strict=False):
        column.metric(f"{name} pending", counts.get(name, 0))
    page = int(st.session_state.get(PAGE_KEY, 0))
    try:
        rows = reviews.inbox(
            db,
            status=status,
            roles=roles,
            agent=agent,
            action=action,
            limit=size + 1,
            offset=page * size,
            sort=sort,
        )
    except HitlError as exc:
        st.error(services.md_escape(exc))
        return
    has_next = len(rows) > size
    rows = rows[:size]
    if not rows:
        st.info("Nothing here: no review matches these filters." if page == 0 else "No more reviews.")
    for row in rows:
        _row(row)
    left, middle, right = st.columns([1, 2, 1])
    left.button("Previous page", key="inbox_prev", disabled=page == 0, on_click=_turn, args=(-1,))
    first = page * size + 1
    middle.caption(f"Page {page + 1}: reviews {first}-{first + len(rows) - 1}" if rows else f"Page {page + 1}")
    right.button("Next page", key="inbox_next", disabled=not has_next, on_click=_turn, args=(1,))


def _turn(step: int) -> None:
    st.session_state[PAGE_KEY] = max(0, int(st.session_state.get(PAGE_KEY, 0)) + step)


def _row(row: dict[str, Any]) -> None:
    amount = f" {services.number(row['amount'])}" if row["amount"] is not None else ""
    deadline = services.countdown(row["deadline"]) if row["status"] == "pending" else row["status"].replace("_", " ")
    with st.container(border=True):
        cells = st.columns([2.4, 0.8, 1.1, 0.9, 1.3, 2.2, 2.3], vertical_alignment="center")
        cells[0].markdown(f"**{services.md_escape(row['action'] + amount)}**")
        cells[0].caption(services.md_escape(f"{row['agent']} · requested by {row['requester']}"))
        _cell(cells[1], "Risk", services.number(row["risk"]))
        _cell(cells[2], "Confidence", services.number(row["confidence"]))
        _cell(cells[3], "Age", services.age(row["created_at"]))
        _cell(cells[4], "Deadline" if row["status"] == "pending" else "Status", deadline)
        _cell(cells[5], "Tier", f"{row['tier_name']} ({services.join_roles(row['required_roles'])})")
        cells[6].page_link(
            "review.py", label=f"Open {row['id']}", icon=":material/open_in_new:", query_params={"id": row["id"]}
        )


def _cell(column: Any, label: str, value: str) -> None:
    column.caption(label)
    column.markdown(f"**{services.md_escape(value)}**")


main()
