"""The command that serves the review app: one definition for `hitl ui`, the benchmark and the browser tests."""

from __future__ import annotations

import signal
import subprocess
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


def serve_app(command: list[str], env: dict[str, str]) -> int:
    """Run the app as a child until it ends, passing on the signals that stop this process; its exit code.

    The child is not in this process's place (`exec`): the in-process worker serves beside it. Without
    the hand-on, a supervisor's SIGTERM to `hitl ui` ended it and left the app serving, orphaned.
    """
    process = subprocess.Popen(command, env=env)

    def hand_on(signum: int, _frame: object) -> None:
        if process.poll() is None:
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, hand_on) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        return process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
