"""Child processes the lab starts (the API server, the worker, the review app): waiting for them and ending them."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from typing import Any


def wait_until_serving(url: str, process: subprocess.Popen[Any], seconds: float) -> bool:
    """Poll `url` until it answers 200; False when `process` exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:  # not listening yet, or an error status
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.3)


def stop(*processes: subprocess.Popen[Any] | None, timeout: float = 30) -> None:
    """Ask each process to end (SIGTERM), all at once; kill any still running after `timeout` seconds."""
    running = [p for p in processes if p is not None]
    for process in running:
        if process.poll() is None:
            process.terminate()
    for process in running:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # held at a fault point, or hung: end it
            process.kill()
            process.wait()
