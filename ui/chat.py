"""Chat: talk to an agent, see when a person reviews the request and what they decided.

Which agents a user may chat with comes from configuration (`services.chat_agents`). The
conversations are listed by thread id (each a button keyed by its id, so a changing status never
changes which conversation is open); the open one is also in the address (`?thread=`), and a
returning user lands on their open conversation. The conversation refreshes itself
(`st.fragment(run_every=...)`): a request waiting for review says in plain words who will look at it
and how soon, and the outcome appears once a reviewer has decided, without reloading the page. A
question from the agent (or from a reviewer, through it) is answered in the same input box.
"""

from __future__ import annotations

from typing import Any, Final

import streamlit as st

from hitl_core import reviews, threads
from hitl_core.errors import HitlError
from hitl_runtime import access
from hitl_runtime.requester import DISMISSED_TEXT, done_texts, open_conversation, waiting_text
from ui import services

NEW: Final = "__new__"
# (No bare strings at module level in a page: Streamlit's magic would display them.)
THREAD_KEY: Final = "chat_thread"  # the open conversation's thread id (or NEW): set by buttons, never a label
AGENT_KEY: Final = "chat_agent"
STATUS_KEY: Final = "chat_status_shown"
STATUS_WORDS: Final = {
    "needs_info": "needs your answer",
    "pending_review": "waiting for review",
    "running": "in progress",
    "completed": "done",
    "blocked": "refused",
    "dismissed": "closed without action",
    "failed": "could not be completed",
}


def main() -> None:
    """The conversations, the refreshing open conversation, and the input box."""
    user = services.require_user("chat")
    st.title("Chat")
    agents = services.chat_agents(user)
    if THREAD_KEY not in st.session_state:  # a new tab: the address's conversation, or the open one
        st.session_state[THREAD_KEY] = _landing(user.name, agents)
    thread_id = st.session_state[THREAD_KEY]
    opened = _own_thread(thread_id, user.name, agents) if thread_id != NEW else None
    if thread_id != NEW and opened is None:
        thread_id = st.session_state[THREAD_KEY] = NEW
    if opened is not None:
        st.session_state[AGENT_KEY] = opened["agent"]
    if st.session_state.get(AGENT_KEY) not in agents:
        st.session_state[AGENT_KEY] = agents[0]
    if thread_id == NEW:
        st.query_params.pop("thread", None)
    elif st.query_params.get("thread") != thread_id:
        st.query_params["thread"] = thread_id

    left, right = st.columns([1.2, 2.6], gap="large")
    with left:
        if len(agents) > 1:
            st.selectbox(
                "Agent", agents, key=AGENT_KEY, format_func=lambda a: f"{a} assistant", on_change=_new_conversation
            )
        agent = str(st.session_state[AGENT_KEY])
        _conversations(user.name, agent, thread_id)
    with right:
        st.caption(services.md_escape(f"You are talking to the {agent} assistant."))
        error = st.session_state.pop("chat_error", None)
        if error:
            st.error(services.md_escape(error))
        status = None
        if thread_id != NEW:
            status = conversation(thread_id)
        else:
            st.caption("Ask anything; requests that need a person are reviewed before anything happens.")
    st.chat_input(
        _placeholder(status),
        key="chat_message",
        on_submit=_send,
        args=(agent,),
        disabled=status == "pending_review",
    )


def _landing(requester: str, agents: list[str]) -> str:
    """The conversation named in the address (`?thread=`), else the user's latest open one, else NEW."""
    wanted = st.query_params.get("thread")
    if wanted and _own_thread(wanted, requester, agents) is not None:
        return str(wanted)
    return open_conversation(services.runner().db, requester, agents) or NEW


def _own_thread(thread_id: str, requester: str, agents: list[str]) -> dict[str, Any] | None:
    """The thread if it is this user's conversation with an agent they may chat with, else None."""
    try:
        thread = services.runner().thread(thread_id)
    except HitlError:
        return None
    return dict(thread) if thread["requester"] == requester and thread["agent"] in agents else None


def _conversations(requester: str, agent: str, current: str) -> None:
    """One button per conversation, keyed by its thread id; the open one is highlighted."""
    st.button(
        "New conversation",
        key="chat_new",
        icon=":material/add_comment:",
        type="primary" if current == NEW else "secondary",
        width="stretch",
        on_click=_new_conversation,
    )
    history = threads.for_requester(services.runner().db, requester, agent=agent, limit=30)
    if history:
        st.caption("Your conversations")
    for thread in history:
        st.button(
            services.md_escape(_label(thread)),
            key=f"chat_open:{thread['thread_id']}",
            type="primary" if thread["thread_id"] == current else "tertiary",
            help=f"Started {services.local_time(thread['created_at'])}",
            width="stretch",
            on_click=_open,
            args=(thread["thread_id"],),
        )


def _label(thread: dict[str, Any]) -> str:
    status = STATUS_WORDS.get(str(thread["status"]), str(thread["status"]).replace("_", " "))
    return f"{status.capitalize()}: {services.one_line(thread['last_request'], 30)}"


def _placeholder(status: str | None) -> str:
    if status == "needs_info":
        return "Answer the question above"
    if status == "pending_review":
        return "Waiting for a reviewer; you can write again once they have decided"
    if status is None:
        return "Write your request"
    return "Write a follow-up"


def _open(thread_id: str) -> None:
    st.session_state[THREAD_KEY] = thread_id


def _new_conversation() -> None:
    st.session_state[THREAD_KEY] = NEW


def _send(agent: str) -> None:
    """Start a conversation, continue it, or answer the agent's question (runs before the page redraws)."""
    text = str(st.session_state.get("chat_message") or "").strip()
    user = services.current_user()
    if not text or user is None:
        return  # a logged-out tab: the page that follows says so
    agents = services.chat_agents(user)
    if agent not in agents:
        st.session_state["chat_error"] = "You may not chat with this assistant."
        return
    current = str(st.session_state.get(THREAD_KEY, NEW))
    runner = services.runner()
    try:
        if current == NEW:
            result = runner.run(agent, text, user=user.name)
            st.session_state[THREAD_KEY] = result.thread_id
        elif _own_thread(current, user.name, agents) is None:
            st.session_state[THREAD_KEY] = NEW
            st.session_state["chat_error"] = "That conversation is not yours; nothing was sent."
        elif runner.state(current).status == "needs_info":
            runner.reply(current, text, user=user.name)
        else:
            runner.run(agent, text, thread_id=current, user=user.name)
    except HitlError as exc:
        st.session_state["chat_error"] = str(exc)


@st.fragment(run_every=services.refresh_seconds())
def conversation(thread_id: str) -> str | None:
    """The messages so far and where the request stands; redraws the page when that changes."""
    user = services.current_user(activity=False)
    if user is None:
        st.rerun()
        return None
    runner = services.runner()
    try:
        thread = access.thread(runner, user, thread_id, own=True)  # someone else's and unknown alike
        state = runner.state(thread_id)
        snapshot = runner.snapshot(thread["agent"], thread_id)
    except HitlError as exc:
        st.error(services.md_escape(exc))
        return None
    said = ""
    for message in snapshot.values.get("messages", []):
        role = "user" if message.type == "human" else "assistant"
        said = message.content if isinstance(message.content, str) else str(message.content)
        with st.chat_message(role):
            st.text(said)
    if state.status == "completed":
        _done(thread_id, said)
    elif state.status == "pending_review":
        for review_id in state.reviews:
            _waiting(review_id)
    elif state.status == "needs_info" and state.question:
        with st.chat_message("assistant"):
            st.text(state.question)
        st.info("We need one more detail before we can go on: answer below.", icon=":material/help:")
    elif state.status == "blocked":
        st.error("This request was refused; the reply above says why.", icon=":material/block:")
    elif state.status == "dismissed":
        st.info(DISMISSED_TEXT, icon=":material/do_not_disturb_on:")
    elif state.status == "failed":
        st.error("Something went wrong with this request; the team has been notified.")
    previous = st.session_state.get(STATUS_KEY)
    st.session_state[STATUS_KEY] = (thread_id, state.status, tuple(state.reviews))
    if previous is not None and previous[0] == thread_id and previous != st.session_state[STATUS_KEY]:
        st.rerun()  # the outcome arrived: redraw the whole page (input box and conversation list included)
    return state.status


def _done(thread_id: str, said: str) -> None:
    """What was done, in the past tense, unless the last answer already says it (an edited amount does)."""
    news = [text for text in done_texts(services.runner().db, thread_id) if text not in said]
    if news:
        st.success(services.md_escape(" ".join(news)), icon=":material/check_circle:")


def _waiting(review_id: str) -> None:
    """Who will look at the request and how soon, in plain words (no role ids, tiers or limits)."""
    review = reviews.get(services.runner().db, review_id)
    st.info(services.md_escape(waiting_text(review)), icon=":material/hourglass_top:")


main()
