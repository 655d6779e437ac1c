"""Where one full cycle of the runner (run to the review, then decide) spends its time, by category.

    HITL_DATABASE_URL=postgresql://... python -m scripts.profile_cycle [--cycles 200] [--cprofile 25]

Runs the benchmark agent of `hitl bench` (hitl_lab/bench.py) in a scratch schema, one cycle after
another in one thread, and charges each moment of wall time to exactly one category (exclusive
time: entering a wrapped function pauses the caller's clock):

- waiting on PostgreSQL (`psycopg.Connection.wait`: one call per round trip), split into the
  checkpointer's waits and ours (the runner's and the nodes' own SQL), with the number of waits;
  ours are split again by the promise they keep (the module whose SQL it is: audit chain, lease,
  review rows, ledger, ...), and BEGIN and COMMIT apart;
- serialisation (the checkpointer's serde: `dumps_typed` / `loads_typed`);
- the checkpointer's own Python (put, put_writes, get_tuple, around its SQL and serde);
- the graph's nodes (the shared nodes of `nodes/wiring.py`: screen, validator, gate, executor);
- LangGraph's step overhead (Pregel's loop, channels, tasks: `invoke` less everything above in it);
- the runner's own Python (input checks, masking, audit hashing, review rows: all the rest).

Apart from the exclusive categories, it prints the inclusive time of the turn's input checkpoint
(the `invoke` with `interrupt_before="*"` that makes a run recoverable after a crash).

`--cprofile N` instead prints cProfile's N most expensive functions (own time) over the same cycles.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from types import FrameType
from typing import Any

import psycopg
from langgraph._internal._runnable import RunnableCallable
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.pregel import Pregel

from hitl_core.settings import configured
from hitl_lab.bench import AGENT, REQUESTER, _context, _runner, scratch_database

RUNNER = "runner (ours, Python)"
LANGGRAPH = "LangGraph step overhead"
NODES = "graph nodes (Python)"
CHECKPOINTER = "checkpointer (Python)"
SERDE = "serialisation (serde)"
WAIT_CHECKPOINT = "PostgreSQL waits: checkpointer"
WAIT_OURS = "PostgreSQL waits: ours (runner and nodes)"
INPUT_CHECKPOINT = "the turn's input checkpoint (its own invoke)"

PURPOSES = (  # (path fragment of the module whose SQL it is, the promise it keeps); first match wins
    ("psycopg/transaction.py", "BEGIN and COMMIT of our transactions"),
    ("hitl_core/audit.py", "audit chain (events, heads, registry)"),
    ("hitl_core/leases.py", "lease (take, fence, give up)"),
    ("hitl_core/ledger.py", "ledger (idempotent execution, undo)"),
    ("hitl_core/outbox.py", "notifications (outbox rows)"),
    ("hitl_runtime/notifications.py", "notifications (outbox rows)"),
    ("hitl_core/reviews.py", "review rows and decisions"),
    ("hitl_core/feedback.py", "review rows and decisions"),
    ("hitl_core/threads.py", "thread rows"),
    ("hitl_core/checkpointing.py", "thread rows"),
    ("hitl_core/users.py", "reviewer's account"),
    ("hitl_core/stats.py", "approval statistics (calibration)"),
)
OTHER_PURPOSE = "other statements of ours"


def purpose_of(frame: FrameType | None) -> str:
    """The promise a wait of ours serves: the first known module on its stack, nearest first."""
    while frame is not None:
        path = frame.f_code.co_filename.replace("\\", "/")
        for fragment, purpose in PURPOSES:
            if path.endswith(fragment):
                return purpose
        frame = frame.f_back
    return OTHER_PURPOSE


class Attribution:
    """Exclusive wall time per category over one thread's calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.purposes: dict[str, float] = defaultdict(float)  # our waits' time, by purpose_of
        self.purpose_calls: dict[str, int] = defaultdict(int)
        self.spans: dict[str, float] = defaultdict(float)  # inclusive time of marked calls
        self._stack: list[list[Any]] = []  # [category, started]
        self._local = threading.local()

    @contextmanager
    def charge(self, category: str) -> Iterator[None]:
        now = time.perf_counter()
        if self._stack:
            top = self._stack[-1]
            self.seconds[top[0]] += now - top[1]
        purpose = None
        if category == "wait":
            inside = any(frame[0] in (CHECKPOINTER, SERDE) for frame in self._stack)
            category = WAIT_CHECKPOINT if inside else WAIT_OURS
            purpose = None if inside else purpose_of(sys._getframe(3))
        self.calls[category] += 1
        self._stack.append([category, now])
        try:
            yield
        finally:
            end = time.perf_counter()
            frame = self._stack.pop()
            self.seconds[frame[0]] += end - frame[1]
            if purpose is not None:
                self.purposes[purpose] += end - now
                self.purpose_calls[purpose] += 1
            if self._stack:
                self._stack[-1][1] = end

    def wrap(self, owner: Any, name: str, category: str | Callable[[Any], str]) -> None:
        """Charge calls of `owner.name` to a category (or to the one `category(self)` picks)."""
        original = getattr(owner, name)

        @wraps(original)
        def wrapped(this: Any, *args: Any, **kwargs: Any) -> Any:
            chosen = category(this) if callable(category) else category
            with self.charge(chosen):
                return original(this, *args, **kwargs)

        setattr(owner, name, wrapped)

    def span(self, owner: Any, name: str, label: str, when: Callable[[dict[str, Any]], bool]) -> None:
        """Add the inclusive time of `owner.name` calls whose keyword arguments satisfy `when` to `label`."""
        original = getattr(owner, name)

        @wraps(original)
        def wrapped(this: Any, *args: Any, **kwargs: Any) -> Any:
            if not when(kwargs):
                return original(this, *args, **kwargs)
            started = time.perf_counter()
            try:
                return original(this, *args, **kwargs)
            finally:
                self.spans[label] += time.perf_counter() - started

        setattr(owner, name, wrapped)


def _node_or_langgraph(callable_: Any) -> str:
    """A node's own function is the project's code; LangGraph's writers and routers are its overhead."""
    return NODES if type(callable_) is RunnableCallable else LANGGRAPH


def _instrument(attribution: Attribution, runner: Any) -> None:
    saver = type(runner.checkpointer)
    for name in ("put", "put_writes", "get_tuple", "list"):
        attribution.wrap(saver, name, CHECKPOINTER)
    for name in ("dumps_typed", "loads_typed"):
        attribution.wrap(JsonPlusSerializer, name, SERDE)
    attribution.wrap(Pregel, "invoke", LANGGRAPH)
    attribution.span(Pregel, "invoke", INPUT_CHECKPOINT, lambda kwargs: kwargs.get("interrupt_before") == "*")
    attribution.wrap(RunnableCallable, "invoke", _node_or_langgraph)
    attribution.wrap(psycopg.Connection, "wait", "wait")


def _cycles(runner: Any, prefix: str, count: int) -> None:
    for i in range(count):
        result = runner.run(
            AGENT, f"Please credit account {i}", thread_id=f"{prefix}-{i}", user=REQUESTER, context=_context(i)
        )
        out = runner.decide(result.reviews[0], "approve", "bench-reviewer-0")
        assert out["thread"]["status"] == "completed", out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--cprofile", type=int, default=0, help="print cProfile's N top functions instead")
    args = parser.parse_args()
    url = configured().database_url
    with scratch_database(url, "profile") as scratch:
        runner = _runner(scratch, pool_size=2)
        try:
            _cycles(runner, "warm", 16)
            if args.cprofile:
                profile = cProfile.Profile()
                profile.enable()
                _cycles(runner, "profiled", args.cycles)
                profile.disable()
                pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(args.cprofile)
                return
            attribution = Attribution()
            _instrument(attribution, runner)
            start = time.perf_counter()
            with attribution.charge(RUNNER):
                _cycles(runner, "profiled", args.cycles)
            wall = time.perf_counter() - start
        finally:
            runner.close()
    per = 1000 / args.cycles
    print(f"{args.cycles} cycles, {wall * per:.2f} ms per cycle (wall, instrumented)")
    print(f"{'category':<44} {'ms/cycle':>9} {'share':>6} {'calls/cycle':>12}")
    for category, seconds in sorted(attribution.seconds.items(), key=lambda item: -item[1]):
        calls = attribution.calls[category] / args.cycles
        print(f"{category:<44} {seconds * per:>9.2f} {seconds / wall:>6.0%} {calls:>12.1f}")
    print(f"\n{WAIT_OURS}, by what they are for:")
    for purpose, seconds in sorted(attribution.purposes.items(), key=lambda item: -item[1]):
        calls = attribution.purpose_calls[purpose] / args.cycles
        print(f"  {purpose:<42} {seconds * per:>9.2f} {seconds / wall:>6.0%} {calls:>12.1f}")
    print("\ninclusive (overlaps the categories above):")
    for label, seconds in attribution.spans.items():
        print(f"  {label:<42} {seconds * per:>9.2f} {seconds / wall:>6.0%}")


if __name__ == "__main__":
    main()
