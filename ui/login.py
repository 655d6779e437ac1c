"""Login: local accounts (Argon2 hashes, `hitl users add`), or the OIDC provider configured in the secrets."""

from __future__ import annotations

import streamlit as st

from hitl_lab.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from ui import services


def main() -> None:
    """The login form, or the button that starts the provider's login flow."""
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
    with st.form("login"):
        name = st.text_input("User name", key="login_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="login_password", autocomplete="current-password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        if services.log_in(name, password) is None:
            st.error("Wrong user name or password.")
        else:
            st.rerun()
    if services.demo():
        accounts = "; ".join(f"{name} ({', '.join(roles)})" for name, roles in DEMO_ACCOUNTS.items())
        st.caption("Demo accounts, each with the password " + services.md_escape(DEMO_PASSWORD) + ":")
        st.text(accounts)


main()
