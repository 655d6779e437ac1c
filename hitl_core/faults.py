"""Named crash points for fault-injection tests and `hitl soak`.

When `HITL_CRASH_AT` names a point, the process kills itself there with SIGKILL, exactly as an
operator's `kill -9` would: no cleanup, no exception handlers. Unset, these calls do nothing.
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_decision", "inside_execution", "after_execution")


def crash_point(name: str) -> None:
    """Die here if the environment asks for it."""
    # Read here on purpose: a test hook, not configuration. The parent sets it for one child process
    # (tests, `hitl soak`), and the points sit deep inside a step where no settings are in reach.
    if os.environ.get("HITL_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
