"""Named crash points for fault-injection tests and `hitl soak`.

When `HITL_CRASH_AT` names a point, the process kills itself there with SIGKILL, exactly as an
operator's `kill -9` would: no cleanup, no exception handlers. When `HITL_HOLD_AT` names it, the
first process to get there (of all that share the marker file `HITL_HOLD_FILE`) writes its pid
into that file and stops there for good, so a test can kill it from outside in the middle of a
step while its siblings carry on. Unset, these calls do nothing.
"""

from __future__ import annotations

import os
import signal
import time

POINTS = ("after_decision", "inside_execution", "after_execution", "after_review_row")


def crash_point(name: str) -> None:
    """Die here (or hold here) if the environment asks for it."""
    # Read here on purpose: a test hook, not configuration. The parent sets it for one child process
    # (tests, `hitl soak`), and the points sit deep inside a step where no settings are in reach.
    if os.environ.get("HITL_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("HITL_HOLD_AT") == name:
        _hold(os.environ.get("HITL_HOLD_FILE") or "")


def _hold(marker: str) -> None:
    """Wait here to be killed, if no other process has held at this marker yet."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except (FileExistsError, FileNotFoundError):
        return  # another process held already (or no marker): carry on
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    while True:
        time.sleep(1)
