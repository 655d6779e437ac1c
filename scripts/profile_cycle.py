"""Where one full cycle of the runner (run to the review, then decide) spends its time, by category.

    HITL_DATABASE_URL=postgresql://... python -m scripts.profile_cycle [--cycles 200] [--cprofile 25]

Runs the benchmark agent of `hitl bench` (hitl_lab/bench.py) in a scratch schema, one cycle after
another in one thread, and beside it the same graph driven as plain LangGraph with
`durability="exit"` (`plain_exit` in `hitl bench`: invoke to the interrupt, resume it; the nodes do
their own SQL as in the runner), alternating blocks of cycles so that both see the same machine.
For each it charges every moment of wall time to exactly one category (exclusive time: entering a
wrapped function pauses the caller's clock), and prints the two side by side with the difference,
which is what the runner adds to a cycle:

- waiting on PostgreSQL (`psycopg.Connection.wait`: one call per round trip), split into the
  checkpointer's waits and ours (the runner's and the nodes' own SQL), with the number of waits;
  ours are split again by the promise they keep (the module whose SQL it is: audit chain, lease,
  review rows, ledger, ...), and BEGIN and COMMIT apart;
- serialisation (the checkpointer's serde: `dumps_typed` / `loads_typed`);
- the checkpointer's own Python (put, put_writes, get_tuple, around its SQL and serde);
- the graph's nodes (the shared nodes of `nodes/wiring.py`: screen, validator, gate, executor);
- LangGraph's step overhead (Pregel's loop, channels, tasks: `invoke` less everything above in it);
- the runner's own Python (input checks, masking, audit hashing, review rows: all the rest; for
  plain LangGraph, the driving loop).

Apart from the exclusive categories, it prints the inclusive time of the turn's input checkpoint
(the `invoke` with `interrupt_before="*"` that makes a run recoverable after a crash).

`--cprofile N` instead prints cProfile's N most expensive functions (own time) over the runner's cycles.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from types import FrameType
from typing import Any

import psycopg
from langgraph._internal._runnable import RunnableCallable
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.pregel import Pregel

from hitl_core.settings import configured
from hitl_lab.bench import (
    _plain_graph,
    _runner,
    plain_resume,
    plain_start,
    runner_approve,
    runner_start,
    scratch_database,
)

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
    ("hitl_core/memory.py", "lessons (the feedback loop's memory)"),
    ("nodes/resume_check.py", "the gate's check of a resume"),
    ("hitl_runtime/runner.py", "thread rows"),
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


@dataclass
class Tally:
    """What one way of driving cycles spent: exclusive seconds and calls per category, and more."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    purposes: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # our waits, by purpose_of
    purpose_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    spans: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # inclusive time of marked calls
    cycles: int = 0
    wall: float = 0.0


class Attribution:
    """Exclusive wall time per category over one thread's calls, into the tally in use (`into`)."""

    def __init__(self) -> None:
        self.tally = Tally()
        self._stack: list[list[Any]] = []  # [category, started]

    @contextmanager
    def charge(self, category: str) -> Iterator[None]:
        tally = self.tally
        now = time.perf_counter()
        if self._stack:
            top = self._stack[-1]
            tally.seconds[top[0]] += now - top[1]
        purpose = None
        if category == "wait":
            inside = any(frame[0] in (CHECKPOINTER, SERDE) for frame in self._stack)
            category = WAIT_CHECKPOINT if inside else WAIT_OURS
            purpose = None if inside else purpose_of(sys._getframe(3))
        tally.calls[category] += 1
        self._stack.append([category, now])
        try:
            yield
        finally:
            end = time.perf_counter()
            frame = self._stack.pop()
            tally.seconds[frame[0]] += end - frame[1]
            if purpose is not None:
                tally.purposes[purpose] += end - now
                tally.purpose_calls[purpose] += 1
            if self._stack:
                self._stack[-1][1] = end

    @contextmanager
    def into(self, tally: Tally, cycles: int) -> Iterator[None]:
        """Charge a block of `cycles` cycles to `tally`, its wall time included."""
        self.tally = tally
        start = time.perf_counter()
        with self.charge(RUNNER):
            yield
        tally.wall += time.perf_counter() - start
        tally.cycles += cycles

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
                self.tally.spans[label] += time.perf_counter() - started

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
        status = runner_approve(runner, runner_start(runner, f"{prefix}-{i}", i))
        assert status == "completed", status


def _plain_exit_cycles(runner: Any, prefix: str, count: int) -> None:
    """The same cycles as plain LangGraph drives them with durability "exit" (hitl bench's plain_exit)."""
    graph = _plain_graph(runner)
    for i in range(count):
        interrupt_id = plain_start(graph, runner, f"{prefix}-{i}", i, durability="exit")
        status = plain_resume(graph, runner, f"{prefix}-{i}", interrupt_id, durability="exit")
        assert status == "completed", status


def _table(runner: Tally, plain: Tally) -> list[str]:
    """Both tallies side by side, ms per cycle: runner, plain_exit, and what the runner adds."""

    def per(tally: Tally, seconds: float) -> float:
        return 1000 * seconds / tally.cycles

    def rows(
        indent: str, ours: tuple[dict[str, float], dict[str, int]], theirs: tuple[dict[str, float], dict[str, int]]
    ) -> list[str]:
        width = 44 - len(indent)
        lines = []
        for name in sorted(ours[0], key=lambda n: -ours[0][n]):
            mine, plain_ms = per(runner, ours[0][name]), per(plain, theirs[0].get(name, 0.0))
            lines.append(
                f"{indent}{name:<{width}} {mine:>8.2f} {ours[0][name] / runner.wall:>6.0%} "
                f"{ours[1][name] / runner.cycles:>6.1f} {plain_ms:>10.2f} "
                f"{theirs[1].get(name, 0) / plain.cycles:>6.1f} {mine - plain_ms:>7.2f}"
            )
        return lines

    whole_ours, whole_plain = per(runner, runner.wall), per(plain, plain.wall)
    return [
        f"{runner.cycles} cycles each, ms per cycle (wall, instrumented): runner {whole_ours:.2f}, "
        f"plain_exit {whole_plain:.2f}, difference {whole_ours - whole_plain:.2f}",
        f"{'category':<44} {'runner':>8} {'share':>6} {'calls':>6} {'plain_exit':>10} {'calls':>6} {'added':>7}",
        *rows("", (runner.seconds, runner.calls), (plain.seconds, plain.calls)),
        f"\n{WAIT_OURS}, by what they are for:",
        *rows("  ", (runner.purposes, runner.purpose_calls), (plain.purposes, plain.purpose_calls)),
        "\ninclusive (overlaps the categories above):",
        *(
            f"  {label:<42} {per(runner, seconds):>8.2f} {seconds / runner.wall:>6.0%}"
            for label, seconds in runner.spans.items()
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200, help="cycles of each way (default 200)")
    parser.add_argument("--cprofile", type=int, default=0, help="print cProfile's N top functions instead")
    args = parser.parse_args()
    url = configured().database_url
    block = max(1, min(25, args.cycles))
    with scratch_database(url, "profile") as scratch:
        runner = _runner(scratch, pool_size=2)
        try:
            _cycles(runner, "warm", 16)
            _plain_exit_cycles(runner, "warm-plain", 16)
            if args.cprofile:
                profile = cProfile.Profile()
                profile.enable()
                _cycles(runner, "profiled", args.cycles)
                profile.disable()
                pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(args.cprofile)
                return
            attribution = Attribution()
            _instrument(attribution, runner)
            ours, plain = Tally(), Tally()
            for start in range(0, args.cycles, block):
                count = min(block, args.cycles - start)
                with attribution.into(ours, count):
                    _cycles(runner, f"profiled-{start}", count)
                with attribution.into(plain, count):
                    _plain_exit_cycles(runner, f"plain-{start}", count)
        finally:
            runner.close()
    print("\n".join(_table(ours, plain)))


if __name__ == "__main__":
    main()
