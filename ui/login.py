"""Logged out: the way to the login form (local accounts), or the OIDC provider's button.

Local accounts log in on the form at `/login` (`ui/web.py`), outside Streamlit's pages, because only
an HTTP response can set the HttpOnly session cookie; this page sends the tab there and the form
brings it back to the page it was on.
"""

from __future__ import annotations

import streamlit as st

from ui import services, web


def main() -> None:
    """The button that starts the provider's login flow, or the way to the login form."""
    st.title("Human-in-the-loop review")
    if st.session_state.get("hitl_ended"):
        st.info("You are logged out. Log in again to continue.")
    oidc = services.oidc_settings()
    if oidc is not None:
        provider = services.oidc_provider()
        if st.button("Log in with your organisation's account", key="oidc_login", type="primary"):
            services.start_over()
            if provider:
                st.login(provider)
            else:
                st.login()
        return
    if not web.mounted():
        st.error("The login form is not served: start the app with `hitl ui` (or `streamlit run ui/server.py`).")
        return
    st.link_button("Log in", web.login_url(), type="primary")
    st.html(web.to_login_script(), unsafe_allow_javascript=True, width="content")


main()
