"""The command that serves the review app: one definition for `hitl ui`, the benchmark and the browser tests."""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "ui" / "server.py"
"""ui/server.py serves ui/app.py's pages with the login form and the security headers (ui/web.py)."""


def app_command(port: int | None = None, address: str | None = None, *, watch_files: bool = True) -> list[str]:
    """`streamlit run ui/server.py` headless, without usage statistics; port and address when given.

    `watch_files=False` turns off Streamlit's file watcher (benchmarks and tests: nothing is edited).
    """
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true"]
    command += ["--browser.gatherUsageStats", "false"]
    if not watch_files:
        command += ["--server.fileWatcherType", "none"]
    if port:
        command += ["--server.port", str(port)]
    if address:
        command += ["--server.address", address]
    return command
