"""Chat, for end users: pick an agent, talk to it, see when a human reviews it and what they decided.

The conversation refreshes itself (`st.fragment(run_every=...)`): a request waiting for review
shows for whom it waits and until when, and the outcome appears once a reviewer has decided,
without reloading the page. A question from the agent (or from a reviewer, through it) is answered
in the same input box.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from hitl_runtime import reviews, threads
from hitl_runtime.agents import available_agents
from hitl_runtime.errors import HitlError
from ui import services

NEW = "__new__"
THREAD_KEY = "chat_thread"
STATUS_KEY = "chat_status_shown"


def main() -> None:
    """Agent and conversation pickers, the refreshing conversation, and the input box."""
    user = services.require_user("chat")
    st.title("Chat")
    agents = available_agents()
    if not agents:
        st.error("No agent is installed.")
        return
    left, right = st.columns([1, 3])
    agent = left.selectbox("Agent", agents, key="chat_agent", on_change=_new_conversation)
    history = threads.for_requester(services.runner().db, user.name, agent=agent, limit=30)
    known = {t["thread_id"]: t for t in history}
    if st.session_state.get(THREAD_KEY) not in (NEW, *known):
        st.session_state[THREAD_KEY] = NEW
    right.selectbox(
        "Conversation",
        [NEW, *known],
        key=THREAD_KEY,
        format_func=lambda tid: "New conversation" if tid == NEW else _label(known[tid]),
    )
    error = st.session_state.pop("chat_error", None)
    if error:
        st.error(services.md_escape(error))
    thread_id = st.session_state[THREAD_KEY]
    status = None
    if thread_id != NEW:
        status = conversation(thread_id, user.name)
    else:
        st.caption("Ask the agent anything; requests that need a person are reviewed before anything happens.")
    st.chat_input(
        _placeholder(status),
        key="chat_message",
        on_submit=_send,
        args=(agent,),
        disabled=status == "pending_review",
    )


def _label(thread: dict[str, Any]) -> str:
    status = str(thread["status"]).replace("_", " ")
    started = services.local_time(thread["created_at"]).removesuffix(" UTC")[:16]
    return f"{started} · {services.one_line(thread['last_request'], 50)} · {status}"


def _placeholder(status: str | None) -> str:
    if status == "needs_info":
        return "Answer the question above"
    if status == "pending_review":
        return "Waiting for a reviewer; you can write again once they have decided"
    if status is None:
        return "Write your request"
    return "Write a follow-up"


def _new_conversation() -> None:
    st.session_state[THREAD_KEY] = NEW


def _send(agent: str) -> None:
    """Start a conversation, continue it, or answer the agent's question (runs before the page redraws)."""
    text = str(st.session_state.get("chat_message") or "").strip()
    user = services.current_user()
    if not text or user is None:
        return  # a logged-out tab: the page that follows says so
    current = st.session_state.get(THREAD_KEY, NEW)
    runner = services.runner()
    try:
        if current == NEW:
            result = runner.run(agent, text, user=user.name)
            st.session_state[THREAD_KEY] = result.thread_id
        elif runner.state(current).status == "needs_info":
            runner.reply(current, text, user=user.name)
        else:
            runner.run(agent, text, thread_id=current, user=user.name)
    except HitlError as exc:
        st.session_state["chat_error"] = str(exc)


@st.fragment(run_every=services.refresh_seconds())
def conversation(thread_id: str, requester: str) -> str | None:
    """The messages so far and where the request stands; redraws the page when that changes."""
    if services.current_user() is None:
        st.rerun()
    runner = services.runner()
    try:
        thread = runner.thread(thread_id)
        if thread["requester"] != requester:
            st.error("This conversation belongs to someone else.")
            return None
        state = runner.state(thread_id)
        snapshot = runner.snapshot(thread["agent"], thread_id)
    except HitlError as exc:
        st.error(services.md_escape(exc))
        return None
    for message in snapshot.values.get("messages", []):
        role = "user" if message.type == "human" else "assistant"
        with st.chat_message(role):
            st.text(message.content if isinstance(message.content, str) else str(message.content))
    if state.status == "pending_review":
        for review_id in state.reviews:
            _waiting(review_id)
    elif state.status == "needs_info" and state.question:
        with st.chat_message("assistant"):
            st.text(state.question)
        st.info("The agent needs more information before it can go on: answer below.", icon=":material/help:")
    elif state.status == "blocked":
        st.error("This request was refused; the reply above says why.", icon=":material/block:")
    elif state.status == "failed":
        st.error("Something went wrong with this request; the team has been notified.")
    previous = st.session_state.get(STATUS_KEY)
    st.session_state[STATUS_KEY] = (thread_id, state.status, tuple(state.reviews))
    if previous is not None and previous[0] == thread_id and previous != st.session_state[STATUS_KEY]:
        st.rerun()  # the outcome arrived: redraw the whole page (input box included)
    return state.status


def _waiting(review_id: str) -> None:
    review = reviews.get(services.runner().db, review_id)
    tier = review["tier_name"] or "a reviewer"
    roles = services.join_roles(review["required_roles"])
    st.info(
        f"Waiting for review by {services.md_escape(tier)} ({services.md_escape(roles)}). "
        f"Deadline {services.md_escape(services.countdown(review['deadline']))}; "
        "the outcome appears here as soon as they decide.",
        icon=":material/hourglass_top:",
    )


main()
