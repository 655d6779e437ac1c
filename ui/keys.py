"""Keyboard shortcuts of the inbox: a script-only Streamlit component (`st.components.v2`, not iframed).

The JavaScript (`assets/inbox_keys.js`) only moves focus and a highlight and follows a row's own
link; it reads nothing from the server. Registered once, at import, since a page script runs again
on every interaction and a component registered twice is warned about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import streamlit as st

HINT: Final = "Keys: **j** / **k** move down / up the list · **Enter** opens the selected review · **/** searches"
"""The one-line hint the inbox shows."""

_SCRIPT: Final = (Path(__file__).parent / "assets" / "inbox_keys.js").read_text(encoding="utf-8")
_INBOX_KEYS = st.components.v2.component("hitl_inbox_keys", js=_SCRIPT)


def inbox_keys() -> None:
    """Listen for j, k, Enter and / on the page (rows are containers keyed `inbox_row_<id>`)."""
    _INBOX_KEYS(key="inbox_keys")
