"""Inbox, for reviewers: every pending review their roles can act on, across threads and agents.

One page of the reviews table at a time (`reviews.inbox` with a limit and offset), so it stays fast
however many reviews wait. Search, filters and sort order are the CLI's (`hitl reviews`); the list,
its total and the counts per agent refresh themselves. Each review is two dense lines
(`hitl_runtime/inbox.py` says what they hold), so a screen shows a dozen or more. On the
keyboard, j / k move a highlight down / up the page's rows, Enter opens the highlighted review and /
goes to the search box (`ui/keys.py`); keys typed in a field stay text.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from hitl_core import reviews
from hitl_core.errors import HitlError
from hitl_runtime import inbox as inbox_lines
from hitl_runtime.agents import agent_policy
from ui import keys, services

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


SEARCH_KEY = "inbox_search"
JUMP_KEY = "inbox_jump"
PAGES_KEY = "inbox_pages"
JUMP_ERROR_KEY = "inbox_jump_error"


def main() -> None:
    """Search and filters, then the refreshing list."""
    user = services.require_user("inbox")
    st.title("Inbox")
    agents = services.visible_agents(user)
    actions = sorted({name for agent in agents for name in agent_policy(agent).actions})
    search = st.text_input(
        "Search",
        key=SEARCH_KEY,
        placeholder="words of the request, an order, a service, a review id",
        help=f"Literal text, case aside; at most {reviews.MAX_SEARCH} characters.",
    )
    st.caption(keys.HINT)
    keys.inbox_keys()
    columns = st.columns(5)
    agent = columns[0].selectbox("Agent", [ALL, *agents], key="inbox_agent")
    action = columns[1].selectbox("Action", [ALL, *actions], key="inbox_action")
    status = columns[2].selectbox("Status", STATUSES, key="inbox_status")
    sort = columns[3].selectbox("Sort by", list(SORT_LABELS), key="inbox_sort", format_func=SORT_LABELS.__getitem__)
    size = columns[4].selectbox("Per page", [10, 25, 50, 100], index=1, key="inbox_size")
    filters = (search, agent, action, status, sort, size)
    if st.session_state.get("inbox_filters") != filters:
        st.session_state["inbox_filters"] = filters
        st.session_state[PAGE_KEY] = 0
        st.session_state[JUMP_KEY] = 1
        st.session_state.pop(JUMP_ERROR_KEY, None)
    listing(
        agents,
        search=search,
        agent=None if agent == ALL else agent,
        action=None if action == ALL else action,
        status=status,
        sort=sort,
        size=int(size),
    )


@st.fragment(run_every=services.refresh_seconds())
def listing(
    agents: list[str], *, search: str, agent: str | None, action: str | None, status: str, sort: str, size: int
) -> None:
    """Counts per agent, the total, one page of dense rows and the pager; refreshes by itself."""
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
    filters: dict[str, Any] = {"status": status, "roles": roles, "agent": agent, "action": action, "search": search}
    try:
        page = int(st.session_state.get(PAGE_KEY, 0))
        rows, total = reviews.inbox_page(db, **filters, limit=size, offset=page * size, sort=sort)
        pages = max(1, -(-total // size))
        st.session_state[PAGES_KEY] = pages
        if page >= pages:  # the list shrank under the page (decided elsewhere, a new search): its last page
            page = pages - 1
            st.session_state[PAGE_KEY] = page
            rows, total = reviews.inbox_page(db, **filters, limit=size, offset=page * size, sort=sort)
    except HitlError as exc:
        st.error(services.md_escape(exc))
        return
    first = page * size + 1
    noun = "matching review" if search.strip() else "review"
    st.caption(
        f"{total} {noun}{'' if total == 1 else 's'}"
        + (f"; showing {first}-{first + len(rows) - 1}, page {page + 1} of {pages}" if rows else "")
    )
    if not rows:
        st.info("Nothing here: no review matches these filters.")
    with st.container(gap="xxsmall"):  # rows close together: a screen holds a dozen or more
        for row in rows:
            with st.container(key=f"inbox_row_{row['id']}"):  # the keys find rows by this key
                _row(inbox_lines.line(row))
    left, middle, jump, right = st.columns([1, 2, 1, 1], vertical_alignment="bottom")
    left.button("Previous page", key="inbox_prev", disabled=page == 0, on_click=_turn, args=(-1,))
    middle.caption(f"Page {page + 1} of {pages}")
    jump.number_input("Go to page", step=1, key=JUMP_KEY, on_change=_jump)
    right.button("Next page", key="inbox_next", disabled=page + 1 >= pages, on_click=_turn, args=(1,))
    if st.session_state.get(JUMP_ERROR_KEY):
        st.warning(st.session_state[JUMP_ERROR_KEY])


def _turn(step: int) -> None:
    page = max(0, int(st.session_state.get(PAGE_KEY, 0)) + step)
    st.session_state[PAGE_KEY] = page
    st.session_state[JUMP_KEY] = page + 1
    st.session_state.pop(JUMP_ERROR_KEY, None)


def _jump() -> None:
    """Go to the page asked for, or say why not (the list stays where it was)."""
    wanted, pages = st.session_state.get(JUMP_KEY), int(st.session_state.get(PAGES_KEY, 1))
    if not isinstance(wanted, int | float) or wanted != int(wanted) or not 1 <= wanted <= pages:
        st.session_state[JUMP_ERROR_KEY] = f"There is no page {wanted}: choose a page from 1 to {pages}."
        st.session_state[JUMP_KEY] = int(st.session_state.get(PAGE_KEY, 0)) + 1
        return
    st.session_state[PAGE_KEY] = int(wanted) - 1
    st.session_state.pop(JUMP_ERROR_KEY, None)


def _row(row: dict[str, Any]) -> None:
    """Two lines: what, on what, how much, risk, deadline, markers; then the request, who, where, age."""
    esc = services.md_escape
    amount = ""
    if row["amount"] is not None:
        amount = f" {services.number(row['amount'])}" + (f" {row['currency']}" if row["currency"] else "")
    head = [f"**{esc(row['action'] or row['kind'])}{esc(amount)}**"]
    if row["target"]:
        head.append(f":violet[**{esc(row['target'])}**]")
    head.append(f"risk {esc(services.number(row['risk']))} · confidence {esc(services.number(row['confidence']))}")
    if row["status"] == "pending":
        due = services.countdown(row["deadline"])
        head.append(f":red[**{esc(due)}**]" if due.startswith("overdue") else esc(due))
    else:
        head.append(esc(row["status"].replace("_", " ")))
    if row["escalated_by"]:
        head.append(f":orange[**escalated by {esc(row['escalated_by'])}**]")
    if int(row["approvals_required"] or 1) > 1:
        head.append(f":blue[**{row['approvals']} of {row['approvals_required']} approvals**]")
    tier = f" · {row['tier_name']}" if row["tier"] else ""  # the first tier is the reader's own
    tail = f"“{row['summary']}” · {row['requester']} · {row['agent']}{tier} · asked {services.age(row['first_requested_at'])} ago"
    cells = st.columns([5, 1.5], vertical_alignment="center", gap="small")
    cells[0].markdown(" · ".join(head) + "  \n" + f":small[:gray[{esc(tail)}]]")
    cells[1].page_link(
        "review.py", label=f"Open {row['id']}", icon=":material/open_in_new:", query_params={"id": row["id"]}
    )


main()
