"""The review app's entry point (`hitl ui`, `streamlit run ui/app.py`): who is logged in, and their pages.

Logged out, the only page is the login page. Logged in, the navigation lists the pages the user's
roles may open; the review and thread pages are reached from links (`?id=...`) and stay out of the
menu. Every page has its own address (`/inbox`, `/chat`): the app's root is a hidden page that
switches to the user's landing page, since Streamlit serves its default page only at the root.
The sidebar shows the user and the log-out button, which ends the session in every tab. Served by
`ui/server.py`, which adds the login form and the security headers (`ui/web.py`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from hitl_core.strict_msgpack import enable_strict_msgpack
from hitl_core.users import User
from hitl_runtime.requester import account_words
from ui import services

enable_strict_msgpack()  # the app's process starts here (`streamlit run ui/app.py` imports nothing of ours first)

HERE = Path(__file__).resolve().parent
# Page module (ui/<name>.py, also its URL path) -> title and icon; who may open each is in services.
# (No bare strings at module level here: Streamlit's magic would display them.)
PAGES: dict[str, tuple[str, str | None]] = {
    "chat": ("Chat", ":material/chat:"),
    "inbox": ("Inbox", ":material/inbox:"),
    "review": ("Review", None),
    "thread": ("Thread", None),
    "audit": ("Audit", ":material/policy:"),
    "metrics": ("Metrics", ":material/monitoring:"),
}
HIDDEN = ("review", "thread")  # reached from links with ?id=..., not from the menu
ICON = HERE / "assets" / "icon.png"  # the browser tab's icon, served by the app (nothing fetched from outside)


def main() -> None:
    """Route the request to the pages the user may open."""
    st.set_page_config(page_title="HITL review", page_icon=str(ICON), layout="wide")
    user = services.current_user()
    if user is None:
        # Every page's address leads to the login form, so a deep link (/review?id=...) survives logging in.
        login = [st.Page(HERE / "login.py", title="Log in", url_path="login", default=True)]
        login += [st.Page(HERE / "login.py", title="Log in", url_path=name, visibility="hidden") for name in PAGES]
        st.navigation(login).run()
        return

    allowed = [name for name in PAGES if services.may_open(user, name)]
    if not allowed:
        st.error(f"Your roles ({services.join_roles(user.roles)}) give access to no page of this app.")
        _sidebar(user)
        return
    pages = {
        name: st.Page(
            HERE / f"{name}.py",
            title=title,
            icon=icon,
            url_path=name,
            visibility="hidden" if name in HIDDEN else "visible",
        )
        for name, (title, icon) in PAGES.items()
        if name in allowed
    }
    landing = pages[services.landing_page(allowed) or next(name for name in allowed if name not in HIDDEN)]
    home = st.Page(lambda: st.switch_page(landing), title="Home", url_path="home", default=True, visibility="hidden")
    page = st.navigation([home, *pages.values()])
    _sidebar(user)
    page.run()


def _sidebar(user: User) -> None:
    with st.sidebar:
        st.caption("Logged in as")
        st.text(account_words(user.name, user.roles))
        if st.button("Log out", key="logout", icon=":material/logout:"):
            services.log_out(user)
            st.rerun()


main()
