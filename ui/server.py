"""The review app as it is served: `streamlit run ui/server.py` (what `hitl ui` and `hitl demo` run).

Streamlit's pages (`app.py`) plus what a page cannot do on its own (`ui/web.py`): the login form
that sets the HttpOnly session cookie, and the security headers on every response. It listens on
127.0.0.1 (`ui/.streamlit/config.toml`) unless told otherwise (`--server.address`, or
`STREAMLIT_SERVER_ADDRESS`).
"""

from __future__ import annotations

import streamlit as st

from ui import web

app = st.App("app.py", routes=web.routes(), middleware=web.middleware())
