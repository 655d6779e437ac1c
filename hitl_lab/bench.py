"""`hitl bench`: the runtime side by side with plain LangGraph, at scale.

Four measurements, each in a scratch space of its own beside the configured database (a schema on
PostgreSQL, a sibling file on SQLite) that is dropped afterwards, so a benchmark never leaves rows
in the inbox it runs beside:

1. Full cycle. One graph (the shared nodes of `nodes/wiring.py` around a trivial investigate and
   propose: no model, no retrieval) on one checkpointer, driven two ways over the same number of
   threads: plain LangGraph (`invoke` to the interrupt, then `Command(resume={interrupt_id:
   {"decisions": [{"type": "approve"}]}})`, LangGraph's default durability) and the project's
   runner (`run`, then `decide`: lease and fenced checkpoint writes, review rows, audit chain,
   payload-hash check, compare-and-set, ledger). Throughput and p50/p99 latency of start-to-pause
   and decide-to-complete with 1, 8 and 32 workers: threads of one process sharing one runner, one
   checkpointer and one connection pool, as the sessions of one app process do. The two ways run in
   alternating rounds so that whatever else the machine does weighs on both alike.
2. Finding pending reviews: the inbox's first page (a reviewer's role, by deadline) against
   discovery through LangGraph's public API (list every checkpoint, then `get_state` per thread)
   at 1,000, 10,000 and 100,000 pending threads (--smoke: 100 and 1,000). One thread is run to its
   interrupt; its rows are cloned with INSERT ... SELECT under new ids. With --quick, the 100,000
   step clones only the rows the inbox reads and the public API's time there is extrapolated from
   10,000 (and says so).
2b. The inbox at scale: 1,000,000 pending reviews on PostgreSQL (100,000 on SQLite; --quick: 100,000
   and 10,000), one review cloned in transactions of 100,000; the first page, the header counts, a
   search for one review's id and pages of 100 (`hitl bench --only inbox-scale` runs it alone).
3. Concurrent deciders: 1, 4 and 16 reviewers (threads) each take a random review from the first
   page of their inbox and approve it; a race is refused with "already decided". Afterwards every
   review must be approved once, with one `review_decided` event and one ledger row, and the audit
   chains must verify.
4. Storage: bytes (PostgreSQL: `pg_total_relation_size`; SQLite: `dbstat` pages) and rows per
   completed thread, per table, for the runner and for plain LangGraph.
5. The HTTP API: `hitl serve` started as a child process on a free loopback port over a scratch
   space of its own (with a `hitl worker` child process on PostgreSQL; on SQLite the server is the
   worker); 16 reviewers (threads, each with its API token and keep-alive connection) race as in
   3, over HTTP (`GET /reviews`, `POST /reviews/ID/decisions` with `Prefer: wait`, so a decision
   counts once its queued job has resumed the thread: end to end), then the inbox's first page
   (`GET /reviews`) is timed at 10,000 pending reviews (the fixture of 2).
6. Notification delivery: from a review's creation (its row's timestamp) to the receipt of its signed
   webhook at a local HTTP receiver, with `notifications.deliver_due` called as soon as each run has
   paused (a worker that polls every P seconds adds up to P to it).
7. With --ui (or --only ui): the review app in a real Chromium at 10,000 pending reviews
   (`hitl_lab/bench_ui.py`): login to the first inbox row, opening a review, an approval until it
   shows as recorded, and 100 rows per page; `app_timings`.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from langchain_core.messages import AIMessage
from langgraph.graph import StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt
from pydantic import BaseModel, ConfigDict, Field

from guardrails.policy import Policy
from guardrails.routing import Check, Signal
from hitl_core import audit, ledger, reviews, tokens
from hitl_core.actions import ActionSpec, register
from hitl_core.canonical import parse_iso
from hitl_core.db import Database, DatabaseURL
from hitl_core.errors import BadInput, Conflict, HitlError
from hitl_core.offline_model import OfflineChatModel
from hitl_core.settings import Settings, configured
from hitl_core.stats import percentile
from hitl_core.users import add_user
from hitl_lab.children import stop, wait_until_serving
from hitl_runtime import notifications
from hitl_runtime.agents import register_agent
from hitl_runtime.runner import Runner
from nodes.approval_gate import apply_decision, build_review_request
from nodes.resume_check import decision_of
from nodes.state import AgentContext, AgentState, InputState
from nodes.wiring import AgentNodes, build_agent_graph

AGENT = "bench"
REQUESTER = "bench-requester"
ROLE = "support_agent"
REVIEWERS = 16


# -- the benchmark agent: the shared nodes around a trivial investigate and propose --------------------
class TransferArgs(BaseModel):
    """Arguments of the benchmark's one action."""

    model_config = ConfigDict(extra="forbid")
    account: str = Field(min_length=1, max_length=40)
    amount: float = Field(gt=0, le=10000)


def _execute_transfer(tx: Any, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    return {"account": args["account"], "credited": args["amount"]}


def _undo_transfer(tx: Any, effect: dict[str, Any]) -> dict[str, Any]:
    return {"account": effect["account"], "reversed": effect["credited"]}


ACTION = register(
    ActionSpec(
        "bench_transfer",
        "Credit an account (benchmark action: its ledger row is its only effect)",
        TransferArgs,
        _execute_transfer,
        _undo_transfer,
        undo_plan="Reverse the credit.",
        identity=("account",),
    )
)

POLICY = Policy.model_validate(
    {
        "agent": AGENT,
        "version": 1,
        "thresholds": {"auto_min_confidence": 0.6, "auto_max_risk": 0.35, "review_min_confidence": 0.3},
        "review_deadline_minutes": 240,
        "expiry_fallback": "reject",
        "max_revisions": 2,
        "confidence_weights": {"validation": 0.5, "model_estimate": 0.3, "historical_approval": 0.2},
        "escalation_path": [{"name": "Support lead", "roles": ["support_lead"]}],
        "actions": {
            ACTION.name: {
                "review": "always",
                "reversible": True,
                "base_risk": 0.2,
                "amount_arg": "amount",
                "tiers": [{"name": "Support agent", "roles": [ROLE]}],
            }
        },
    }
)
"""Every proposal goes to a support agent: the benchmark measures the review path."""


def _investigate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    account = str((state.get("context") or {}).get("account") or "acct-0")
    return {
        "facts": {**(state.get("facts") or {}), "account": account},
        "evidence": [],
        "tool_calls": [{"name": "lookup_account", "args": {"account": account}, "result": "active"}],
    }


def _propose(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    context = state.get("context") or {}
    args = {"account": str(context.get("account") or "acct-0"), "amount": float(context.get("amount") or 25)}
    return {
        "proposal": {
            "name": ACTION.name,
            "args": args,
            "description": ACTION.description,
            "draft": None,
            "missing": [],
            "model_confidence": 0.9,
            "preview": {"ledger": {"account": args["account"], "credit": args["amount"]}},
            "alternatives": ["Do nothing"],
        }
    }


def _signals(state: AgentState, ctx: AgentContext) -> tuple[dict[str, Any], list[Signal], list[Signal], list[Check]]:
    proposal = state.get("proposal") or {}
    amount = float((proposal.get("args") or {}).get("amount") or 0)
    confidence = [Signal("model_estimate", 0.9, "fixed")]
    risk = [Signal("money", min(0.7, amount / 2000), f"credit of {amount:g}")]
    return dict(state.get("facts") or {}), confidence, risk, []


PARTS = AgentNodes(investigate=_investigate, propose=_propose, signals=_signals)


def build_graph() -> StateGraph[AgentState, AgentContext, InputState, AgentState]:
    """The benchmark agent's uncompiled graph: the shared flow around trivial agent parts."""
    return build_agent_graph(PARTS)


def _ungoverned_execute(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The plain baseline's executor: the same ledgered effect, with none of the runtime's checks."""
    ctx = runtime.context
    proposal = state.get("proposal") or {}
    key = ledger.idempotency_key(ctx.thread_id, f"plain-{state.get('turn', 1)}", ACTION.name)
    entry = ledger.execute(
        ctx.db,
        key=key,
        thread_id=ctx.thread_id,
        agent=ctx.agent,
        action=ACTION.name,
        args=proposal["args"],
        actor="plain",
        review_id=None,
        reversible=True,
    )
    return {"executed": [{"id": entry["id"], "name": entry["name"], "key": key}], "outcome": "executed"}


def _ungoverned_gate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The plain baseline's gate: takes any resume, without the check against the reviews table."""
    request = build_review_request(state, runtime.context)
    return apply_decision(state, request, decision_of(interrupt(request)))


def _plain_graph(runner: Any) -> Any:
    """The benchmark graph without the runtime: resumed straight through `Command(resume=...)`."""
    plain = build_agent_graph(PARTS, executor=_ungoverned_execute, gate=_ungoverned_gate)
    return plain.compile(checkpointer=runner.checkpointer)


def load_context(tx: Any, context: dict[str, Any], requester: str) -> None:
    """Nothing to load: the benchmark's facts travel in the graph input."""


register_agent(AGENT, sys.modules[__name__])


def _stub_model(agent: str) -> Any:

    return OfflineChatModel(responder=lambda messages, tools: AIMessage("unused"))


# -- sizes ---------------------------------------------------------------------------------------------
Profile = Literal["full", "quick", "smoke"]


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    cycle_threads: int
    concurrency: tuple[int, ...]
    inbox_sizes: tuple[int, ...]
    discovery_max: int
    """Largest size at which public-API discovery is measured; above it, it is extrapolated."""
    decide_pool: int
    deciders: tuple[int, ...]
    storage_threads: int
    inbox_repeats: int = 20
    rounds: int = 4
    api_pending: int = 10_000
    """Pending reviews behind the API's inbox timing."""
    api_inbox_requests: int = 200
    notify_threads: int = 50
    scale_pg: int = 1_000_000
    """Pending reviews behind the inbox-at-scale figures on PostgreSQL (on SQLite: `scale_sqlite`)."""
    scale_sqlite: int = 100_000
    processes: tuple[int, ...] = (1, 2, 4)
    """Worker processes behind `process_scaling` (counts above the machine's cores are marked oversubscribed)."""
    process_threads: int = 160
    """Cycles each worker process runs."""
    ui_pending: int = 10_000
    """Pending reviews behind the review app's timings in Chromium (`hitl bench --ui`)."""
    ui_repeats: int = 10
    name: Profile = "full"
    """The option that chooses these sizes (`--quick`, `--smoke`; none for the full run), as notes name it."""


Measurement = Callable[[str, Sizes, Callable[[str], None]], dict[str, Any]]
"""One measurement: the database URL, the sizes and a progress logger in; its figures out."""


FULL = Sizes(
    cycle_threads=320,
    concurrency=(1, 8, 32),
    inbox_sizes=(1_000, 10_000, 100_000),
    discovery_max=100_000,
    decide_pool=240,
    deciders=(1, 4, 16),
    storage_threads=200,
)
QUICK = Sizes(
    name="quick",
    cycle_threads=64,
    concurrency=(1, 8, 32),
    inbox_sizes=(1_000, 10_000, 100_000),
    discovery_max=10_000,
    decide_pool=64,
    deciders=(1, 4, 16),
    storage_threads=40,
    api_inbox_requests=100,
    notify_threads=20,
    process_threads=48,
    scale_pg=100_000,
    scale_sqlite=10_000,
    ui_pending=1_000,
    ui_repeats=5,
)
SMOKE = Sizes(
    name="smoke",
    cycle_threads=8,
    concurrency=(1, 4),
    inbox_sizes=(100, 1_000),
    discovery_max=100,
    decide_pool=16,
    deciders=(1, 16),
    storage_threads=8,
    inbox_repeats=3,
    rounds=2,
    api_pending=1_000,
    api_inbox_requests=20,
    notify_threads=5,
    processes=(1, 2),
    process_threads=8,
    scale_pg=1_000,
    scale_sqlite=1_000,
    ui_pending=100,
    ui_repeats=2,
)
"""`--smoke`: every measurement and every check at the smallest sizes, in about a minute; the test
suite's run of the benchmark. Its figures are too small to read anything from."""
PROFILES: dict[Profile, Sizes] = {sizes.name: sizes for sizes in (FULL, QUICK, SMOKE)}


# -- scratch space ---------------------------------------------------------------------------------------
@contextmanager
def scratch_database(url: str, label: str) -> Iterator[str]:
    """A throwaway space beside the configured database: a schema on PostgreSQL, a file on SQLite."""
    parsed = DatabaseURL.parse(url)
    tag = f"hitl_bench_{label}_{uuid.uuid4().hex[:8]}"
    if parsed.dialect == "sqlite":
        target = Path(parsed.target)
        path = target.with_name(f"{target.stem}.{tag}.db")
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    try:
        with psycopg.connect(parsed.target, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE SCHEMA "{tag}"')
    except psycopg.Error as exc:
        raise HitlError(
            f"cannot create a scratch schema for the benchmark: {str(exc).strip().splitlines()[0]}"
        ) from exc
    parts = urlsplit(parsed.target)
    query = dict(parse_qsl(parts.query))
    query["options"] = f"{query.get('options', '')} -c search_path={tag}".strip()
    try:
        yield urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
    finally:
        with psycopg.connect(parsed.target, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')


def _runner(url: str, pool_size: int = 8) -> Any:

    settings = Settings(database_url=url, lease_seconds=60.0, resume_grace_seconds=30.0)
    runner = Runner(settings, db=Database(url, pool_size=pool_size), model_factory=_stub_model)
    add_user(runner.db, REQUESTER, ["end_user"], actor="bench")
    for i in range(REVIEWERS):
        add_user(runner.db, f"bench-reviewer-{i}", [ROLE], actor="bench")
    return runner


def _analyze(db: Database) -> None:
    """Fresh planner statistics before timings and sizes are read."""
    with db.transaction() as tx:
        tx.execute("ANALYZE")


# -- statistics -----------------------------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float:
    return percentile(values, q) or 0.0


def _latency(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(_percentile(values, 0.50) * 1000, 2),
        "p99_ms": round(_percentile(values, 0.99) * 1000, 2),
    }


def _parallel(workers: int, items: list[Any], work: Callable[[Any], Any]) -> tuple[float, list[Any]]:
    """Run `work` over items with a pool of worker threads; the wall time and the results in order."""
    start = time.perf_counter()
    if workers == 1:
        results = [work(item) for item in items]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(work, items))
    return time.perf_counter() - start, results


def _time_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """The first call and the median of the others, in milliseconds, and the last result."""
    times, result = [], None
    for _ in range(max(2, repeats)):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times[0], statistics.median(times[1:]), result


def _context(index: int) -> dict[str, Any]:
    return {"account": f"acct-{index % 997}", "amount": 10 + index % 90}


# -- 1. full cycle: plain LangGraph against the runner ---------------------------------------------------------
@dataclass
class _Tally:
    """Wall times and latencies of one way of driving threads, summed over rounds."""

    threads: int = 0
    start_wall: float = 0.0
    end_wall: float = 0.0
    start_lat: list[float] = field(default_factory=list)
    end_lat: list[float] = field(default_factory=list)

    def add(self, ids: list[int], start: tuple[float, list[Any]], end: tuple[float, list[Any]]) -> None:
        self.threads += len(ids)
        self.start_wall += start[0]
        self.end_wall += end[0]
        self.start_lat += [item[0] for item in start[1]]
        self.end_lat += [item[0] for item in end[1]]

    def figures(self) -> dict[str, Any]:
        n = self.threads
        return {
            "threads": n,
            "full_cycle_threads_per_s": round(n / (self.start_wall + self.end_wall), 1),
            "start_to_pause": {"threads_per_s": round(n / self.start_wall, 1), **_latency(self.start_lat)},
            "decide_to_complete": {"threads_per_s": round(n / self.end_wall, 1), **_latency(self.end_lat)},
        }


def plain_start(graph: Any, runner: Any, thread_id: str, index: int, **options: Any) -> str:
    """Plain LangGraph's first half of a cycle: invoke the request to its interrupt; the interrupt's id."""
    out = graph.invoke(
        {"request": f"Please credit account {index}", "requester": REQUESTER, "turn": 1, "context": _context(index)},
        {"configurable": {"thread_id": thread_id}},
        context=runner.context(AGENT, thread_id),
        **options,
    )
    (pending,) = out["__interrupt__"]
    return str(pending.id)


def plain_resume(graph: Any, runner: Any, thread_id: str, interrupt_id: str, **options: Any) -> str:
    """Plain LangGraph's second half: resume the interrupt by its id with an approval; the thread's status."""
    out = graph.invoke(
        Command(resume={interrupt_id: {"decisions": [{"type": "approve"}]}}),
        {"configurable": {"thread_id": thread_id}},
        context=runner.context(AGENT, thread_id),
        **options,
    )
    return str(out.get("status"))


def runner_start(runner: Any, thread_id: str, index: int) -> str:
    """The runner's first half of a cycle: `run` to the review; the review's id."""
    result = runner.run(
        AGENT, f"Please credit account {index}", thread_id=thread_id, user=REQUESTER, context=_context(index)
    )
    if result.status != "pending_review":
        raise HitlError(f"benchmark: thread {result.thread_id} ended {result.status}, not pending_review")
    return str(result.reviews[0])


def runner_approve(runner: Any, review_id: str) -> str:
    """The runner's second half: `decide` (approve) as a reviewer; the thread's status."""
    return str(runner.decide(review_id, "approve", "bench-reviewer-0")["thread"]["status"])


def _cycle_plain(
    runner: Any, ids: list[int], workers: int, prefix: str, tally: _Tally, durability: str | None = None
) -> None:
    """Plain LangGraph: invoke to the interrupt, then resume it by interrupt id (default durability)."""
    graph = _plain_graph(runner)
    options: dict[str, Any] = {} if durability is None else {"durability": durability}

    def start(i: int) -> tuple[float, str, str]:
        thread_id = f"{prefix}-{i}"
        t0 = time.perf_counter()
        interrupt_id = plain_start(graph, runner, thread_id, i, **options)
        return time.perf_counter() - t0, thread_id, interrupt_id

    def resume(item: tuple[float, str, str]) -> tuple[float, str]:
        _, thread_id, interrupt_id = item
        t0 = time.perf_counter()
        status = plain_resume(graph, runner, thread_id, interrupt_id, **options)
        return time.perf_counter() - t0, status

    started = _parallel(workers, ids, start)
    ended = _parallel(workers, started[1], resume)
    if any(status != "completed" for _, status in ended[1]):
        raise HitlError("benchmark: a plain LangGraph thread did not complete")
    tally.add(ids, started, ended)


def _cycle_runner(runner: Any, ids: list[int], workers: int, prefix: str, tally: _Tally) -> None:
    """The runtime: run (to the review), then decide (approve) as a reviewer."""

    def start(i: int) -> tuple[float, str]:
        t0 = time.perf_counter()
        review_id = runner_start(runner, f"{prefix}-{i}", i)
        return time.perf_counter() - t0, review_id

    def decide(item: tuple[float, str]) -> tuple[float, str]:
        _, review_id = item
        t0 = time.perf_counter()
        status = runner_approve(runner, review_id)
        return time.perf_counter() - t0, status

    started = _parallel(workers, ids, start)
    ended = _parallel(workers, started[1], decide)
    if any(status != "completed" for _, status in ended[1]):
        raise HitlError("benchmark: a thread run by the runner did not complete")
    tally.add(ids, started, ended)


def bench_cycle(url: str, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """Measurement 1: plain LangGraph (default durability and durability="exit") against the runner, per workers."""
    out: dict[str, Any] = {
        "workers": "threads of one process sharing one runner, checkpointer and connection pool",
        "plain": "the same compiled graph and checkpointer, invoke and Command(resume=...), default durability",
        "plain_exit": 'the same, with durability="exit" (one checkpoint per invoke, none per step)',
        "levels": {},
    }
    ways = ("plain", "plain_exit", "runner")
    with scratch_database(url, "cycle") as scratch:
        runner = _runner(scratch, pool_size=max(sizes.concurrency) + 2)
        try:
            _cycle_plain(runner, list(range(8)), 1, "warm-plain", _Tally())  # compile, cache, plan
            _cycle_plain(runner, list(range(8)), 1, "warm-exit", _Tally(), "exit")
            _cycle_runner(runner, list(range(8)), 1, "warm-runner", _Tally())
            for workers in sizes.concurrency:
                tallies = {way: _Tally() for way in ways}
                ids = list(range(sizes.cycle_threads))
                for r in range(sizes.rounds):
                    chunk = ids[r :: sizes.rounds]
                    for way in ways[r % 3 :] + ways[: r % 3]:  # each way goes first in turn
                        if way == "runner":
                            _cycle_runner(runner, chunk, workers, f"runner-{workers}", tallies[way])
                        else:
                            durability = "exit" if way == "plain_exit" else None
                            _cycle_plain(runner, chunk, workers, f"{way}-{workers}", tallies[way], durability)
                figures = {way: tallies[way].figures() for way in ways}
                ours = figures["runner"]["full_cycle_threads_per_s"]
                ratio = ours / figures["plain"]["full_cycle_threads_per_s"]
                exit_ratio = ours / figures["plain_exit"]["full_cycle_threads_per_s"]
                out["levels"][str(workers)] = {
                    **figures,
                    "ratio": round(ratio, 3),
                    "ratio_vs_exit": round(exit_ratio, 3),
                }
                log(
                    f"cycle with {workers} worker(s): plain {figures['plain']['full_cycle_threads_per_s']}/s, "
                    f"plain exit {figures['plain_exit']['full_cycle_threads_per_s']}/s, runner {ours}/s, "
                    f"ratio {ratio:.2f}, vs exit {exit_ratio:.2f}"
                )
        finally:
            runner.close()
    out["ratio_min"] = min(level["ratio"] for level in out["levels"].values())
    out["ratio_vs_exit"] = {workers: level["ratio_vs_exit"] for workers, level in out["levels"].items()}
    return out


# -- 1b. full cycles in several OS processes on one database -----------------------------------------------
def _process_worker(url: str, prefix: str, threads: int, ready: Any, go: Any, results: Any) -> None:
    """One worker process: its own runner and pool, warmed up, then `threads` cycles one after another."""
    runner = Runner(
        Settings(database_url=url, lease_seconds=60.0, resume_grace_seconds=30.0),
        db=Database(url, pool_size=2),
        model_factory=_stub_model,
    )
    try:
        _cycle_runner(runner, list(range(8)), 1, f"{prefix}-warm", _Tally())
        ready.put(prefix)
        go.wait()
        cpu, start = time.process_time(), time.time()
        _cycle_runner(runner, list(range(threads)), 1, prefix, _Tally())
        results.put({"start": start, "end": time.time(), "cpu_s": time.process_time() - cpu, "threads": threads})
    except BaseException as exc:  # the parent must not wait forever on a child that failed
        results.put({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        runner.close()


def _processes_once(url: str, count: int, threads: int, label: str) -> dict[str, Any]:
    """`count` worker processes started together; throughput over the span from the first start to the last end."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")  # fresh interpreters: no pool or lock inherited by fork
    ready, results, go = spawn.Queue(), spawn.Queue(), spawn.Event()
    children = [
        spawn.Process(target=_process_worker, args=(url, f"{label}-{i}", threads, ready, go, results))
        for i in range(count)
    ]
    for child in children:
        child.start()
    try:
        for _ in children:
            ready.get(timeout=120)
        go.set()
        done = [results.get(timeout=600) for _ in children]
    finally:
        for child in children:
            child.join(timeout=60)
    failed = [d["error"] for d in done if "error" in d]
    if failed:
        raise HitlError(f"benchmark: a worker process failed: {failed[0]}")
    span = max(d["end"] for d in done) - min(d["start"] for d in done)
    total = sum(d["threads"] for d in done)
    return {
        "processes": count,
        "threads": total,
        "cycles_per_s": round(total / span, 1),
        "wall_ms_per_cycle_per_process": round(1000 * span * count / total, 2),
        "cpu_ms_per_cycle": round(1000 * sum(d["cpu_s"] for d in done) / total, 2),
    }


def bench_processes(url: str, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """Measurement 1b: the runner's full cycle in 1, 2 and 4 OS processes on one PostgreSQL database.

    Each process has its own runner and pool and runs its cycles one after another (one worker
    thread). Counts above the machine's cores are measured too and listed as `oversubscribed`: there
    the processes queue for a core, which their per-process efficiency shows.
    """
    cores = os.cpu_count() or 1
    counts = list(sizes.processes)
    out: dict[str, Any] = {
        "workers": "OS processes, each with its own runner and pool, each running cycles one after another",
        "cores": cores,
        "oversubscribed": [n for n in counts if n > cores],
        "levels": {},
    }
    with scratch_database(url, "procs") as scratch:
        _runner(scratch, pool_size=2).close()  # the schema and accounts, once, before the workers start
        for count in counts:
            level = _processes_once(scratch, count, sizes.process_threads, f"p{count}")
            out["levels"][str(count)] = level
            log(f"processes {count}: {level['cycles_per_s']} cycles/s, {level['cpu_ms_per_cycle']} ms CPU per cycle")
    single = out["levels"].get("1", {}).get("cycles_per_s")
    for count, level in out["levels"].items():
        level["per_process_efficiency"] = round(level["cycles_per_s"] / (int(count) * single), 3) if single else None
    return out


# -- 2. the inbox against public-API discovery ------------------------------------------------------------------
def _columns(tx: Any, table: str) -> list[str]:
    if tx.dialect == "sqlite":
        return [str(r["name"]) for r in tx.execute(f"PRAGMA table_info({table})")]
    rows = tx.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = :t ORDER BY ordinal_position",
        {"t": table},
    )
    return [str(r["column_name"]) for r in rows]


def _clone(db: Database, template: dict[str, str], lo: int, hi: int, *, inbox_only: bool = False) -> None:
    """Copy the template thread's rows to `clone-lo`..`clone-hi` in one transaction.

    Copied: its latest checkpoint, that checkpoint's writes and the thread's blobs (unless
    `inbox_only`), the thread row, the review row (deadline and creation time made distinct) and
    its roles.
    """
    if hi < lo:
        return
    with db.transaction() as tx:
        sqlite = tx.dialect == "sqlite"
        prefix = "WITH RECURSIVE g(n) AS (SELECT :lo UNION ALL SELECT n + 1 FROM g WHERE n < :hi) " if sqlite else ""
        series = "g" if sqlite else "generate_series(CAST(:lo AS INTEGER), CAST(:hi AS INTEGER)) AS g(n)"
        micros = "substr('000000' || (g.n % 1000000), -6)" if sqlite else "lpad(CAST(g.n % 1000000 AS TEXT), 6, '0')"

        def spread(column: str) -> str:
            return f"substr(s.{column}, 1, 20) || {micros} || 'Z'"

        thread = "'clone-' || CAST(g.n AS TEXT)"
        review = "'rv-clone-' || CAST(g.n AS TEXT)"
        plan: list[tuple[str, dict[str, str], str]] = [
            ("threads", {"thread_id": thread}, "s.thread_id = :t"),
            (
                "reviews",
                {"id": review, "thread_id": thread, "deadline": spread("deadline"), "created_at": spread("created_at")},
                "s.id = :r",
            ),
            ("review_roles", {"review_id": review}, "s.review_id = :r"),
        ]
        if not inbox_only:
            plan += [
                ("checkpoints", {"thread_id": thread}, "s.thread_id = :t AND s.checkpoint_id = :c"),
                (
                    "writes" if sqlite else "checkpoint_writes",
                    {"thread_id": thread},
                    "s.thread_id = :t AND s.checkpoint_id = :c",
                ),
            ]
            if not sqlite:
                plan.append(("checkpoint_blobs", {"thread_id": thread}, "s.thread_id = :t"))
        params = {"lo": lo, "hi": hi, **template}
        for table, overrides, where in plan:
            columns = _columns(tx, table)
            select = ", ".join(overrides.get(c, f"s.{c}") for c in columns)
            tx.execute(
                f"{prefix}INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} s, {series} WHERE {where}",
                params,
            )


def _discover(runner: Any) -> int:
    """Threads waiting at an interrupt, through LangGraph's public API: list checkpoints, get_state each."""
    graph = runner.graph(AGENT)
    threads: dict[str, None] = {}
    for item in runner.checkpointer.list(None):
        threads.setdefault(item.config["configurable"]["thread_id"], None)
    return sum(1 for t in threads if graph.get_state({"configurable": {"thread_id": t}}).interrupts)


def _search_ms(db: Database, size: int, repeats: int) -> tuple[float, float]:
    """The app's searched inbox (total, then the first page): one review's id, then words every request holds."""
    wanted = f"rv-clone-{size // 2}"

    def searched(text: str) -> tuple[list[dict[str, Any]], int]:
        return reviews.inbox_page(db, roles=[ROLE], search=text, limit=50)

    _, one_ms, (rows, total) = _time_ms(lambda: searched(wanted), repeats)
    if wanted not in [r["id"] for r in rows] or total > 1 + size // 1000:
        raise HitlError(f"benchmark: searching {wanted!r} found {total} reviews")
    _, broad_ms, (rows, total) = _time_ms(lambda: searched("CREDIT account"), repeats)
    if total != size or len(rows) != 50:
        raise HitlError(f"benchmark: searching the request's words found {total} reviews, expected {size}")
    return one_ms, broad_ms


def bench_inbox(url: str, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """Measurement 2: the inbox's first page against discovery through the public API."""
    out: dict[str, Any] = {
        "inbox": "reviews.inbox(status=pending, roles=[support_agent], sort=deadline, limit=50): median of repeats",
        "public_api": "checkpointer.list(None), then graph.get_state per distinct thread, counting interrupts",
        "search": (
            "as the app searches: reviews.inbox_page(roles=[support_agent], search=..., limit=50), the first page "
            "and the total from one scan; inbox_search_ms for one review's id (no index narrows the text match: every pending "
            "row of the role is read), inbox_search_broad_ms for words every request holds; median of repeats"
        ),
        "fixture": (
            "one thread run to its interrupt, then cloned with INSERT ... SELECT under new thread and review ids: "
            "its latest checkpoint with that checkpoint's writes and the thread's blobs, thread row, review row "
            "(distinct deadlines) and roles. One checkpoint per clone: the public API lists the fewest rows it could."
        ),
        "sizes": {},
    }
    with scratch_database(url, "inbox") as scratch:
        runner = _runner(scratch)
        try:
            seed = runner.run(AGENT, "Please credit account 1", user=REQUESTER, context=_context(1))
            latest = runner.snapshot(AGENT, seed.thread_id).config["configurable"]["checkpoint_id"]
            template = {"t": seed.thread_id, "c": latest, "r": seed.reviews[0]}
            made = 1
            for size in sizes.inbox_sizes:
                discover = size <= sizes.discovery_max
                t0 = time.perf_counter()
                _clone(runner.db, template, made, size - 1, inbox_only=not discover)
                made = size
                _analyze(runner.db)
                build_s = time.perf_counter() - t0

                def page() -> list[dict[str, Any]]:
                    return reviews.inbox(runner.db, status="pending", roles=[ROLE], limit=50)

                cold_ms, page_ms, rows = _time_ms(page, sizes.inbox_repeats)
                _, unfiltered_ms, _ = _time_ms(lambda: reviews.inbox(runner.db, limit=50), sizes.inbox_repeats)
                _, counts_ms, counts = _time_ms(lambda: reviews.counts_by_agent(runner.db, roles=[ROLE]), 5)
                if len(rows) != 50 or counts.get(AGENT) != size:
                    raise HitlError(f"benchmark: the inbox shows {counts.get(AGENT)} reviews, expected {size}")
                search_ms, broad_ms = _search_ms(runner.db, size, min(sizes.inbox_repeats, 5))  # each reads every row
                entry: dict[str, Any] = {
                    "pending_threads": size,
                    "fixture_build_s": round(build_s, 2),
                    "inbox_first_page_ms": round(page_ms, 2),
                    "inbox_first_page_cold_ms": round(cold_ms, 2),
                    "inbox_unfiltered_page_ms": round(unfiltered_ms, 2),
                    "inbox_counts_ms": round(counts_ms, 2),
                    "inbox_search_ms": round(search_ms, 2),
                    "inbox_search_broad_ms": round(broad_ms, 2),
                }
                if discover:
                    t0 = time.perf_counter()
                    found = _discover(runner)
                    entry["public_api_ms"] = round((time.perf_counter() - t0) * 1000, 1)
                    entry["public_api_measured"] = True
                    if found != size:
                        raise HitlError(f"benchmark: public-API discovery found {found} threads, expected {size}")
                else:
                    last = [v for v in out["sizes"].values() if v["public_api_measured"]][-1]
                    entry["public_api_ms"] = round(last["public_api_ms"] * size / last["pending_threads"], 1)
                    entry["public_api_measured"] = False
                    entry["public_api_note"] = (
                        f"extrapolated linearly from {last['pending_threads']} threads (--{sizes.name}); "
                        "this size's fixture holds the inbox's rows only"
                    )
                entry["speedup"] = round(entry["public_api_ms"] / page_ms, 1)
                out["sizes"][str(size)] = entry
                log(
                    f"inbox at {size} pending: first page {page_ms:.2f} ms, search {search_ms:.1f} ms, "
                    f"public API {entry['public_api_ms']:.0f} ms"
                    f"{'' if entry['public_api_measured'] else ' (extrapolated)'}"
                )
        finally:
            runner.close()
    return out


# -- 2b. the inbox at scale ---------------------------------------------------------------------------------------
SCALE_CHUNK = 100_000
"""Clones per transaction while seeding the inbox at scale (each a statement per table)."""


def _size_label(size: int) -> str:
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else f"{size // 1000}k"


def _vacuum(url: str) -> None:
    """PostgreSQL: what autovacuum does in time (the trigram index's pending list merged, statistics fresh)."""
    import psycopg

    with psycopg.connect(DatabaseURL.parse(url).target, autocommit=True) as conn:  # the scratch schema's URL
        conn.execute("VACUUM ANALYZE reviews")
        conn.execute("VACUUM ANALYZE review_roles")
        conn.execute("ANALYZE review_counts")


def bench_inbox_scale(url: str, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """Measurement 2b: the inbox's four queries at 1,000,000 pending reviews (PostgreSQL; 100,000 on SQLite)."""
    dialect = DatabaseURL.parse(url).dialect
    size = sizes.scale_pg if dialect == "postgresql" else sizes.scale_sqlite
    repeats = max(sizes.inbox_repeats, 10)
    out: dict[str, Any] = {
        "pending": size,
        "label": _size_label(size),
        "queries": {
            "first_page": "reviews.inbox(status=pending, roles=[support_agent], sort=deadline, limit=50)",
            "counts": "reviews.counts_by_agent(roles=[support_agent]) (the inbox header)",
            "search": "reviews.inbox_page(roles=[support_agent], search=<one review's id, upper-cased>, limit=50): "
            "the app's searched page and its total",
            "page100": "reviews.inbox_page(roles=[support_agent], limit=100, offset=100*k) for k = 0..9: "
            "each page of 100 with the total, as the app pages",
            "deep_page100": "reviews.inbox(roles=[support_agent], limit=100, offset=pending/2): one page jump "
            "to the middle (offset paging reads the rows it skips)",
        },
        "fixture": "one thread run to its interrupt, its review row and roles cloned with INSERT ... SELECT "
        f"in transactions of {SCALE_CHUNK:,} (the triggers write each clone's search text and counts), "
        "then VACUUM ANALYZE on PostgreSQL; medians of repeats after a first (cold) call",
    }
    if size != 1_000_000:
        out["note"] = (
            f"measured at {size:,} pending, not 1,000,000 ({'--' + sizes.name if dialect == 'postgresql' else 'SQLite'})"
        )
    with scratch_database(url, "scale") as scratch:
        runner = _runner(scratch)
        try:
            seed = runner.run(AGENT, "Please credit account 1", user=REQUESTER, context=_context(1))
            template = {"t": seed.thread_id, "c": "", "r": seed.reviews[0]}
            t0 = time.perf_counter()
            for lo in range(1, size, SCALE_CHUNK):
                _clone(runner.db, template, lo, min(lo + SCALE_CHUNK, size) - 1, inbox_only=True)
                log(f"inbox at scale: {min(lo + SCALE_CHUNK, size):,} of {size:,} pending seeded")
            if dialect == "postgresql":
                _vacuum(scratch)
            else:
                _analyze(runner.db)
            out["fixture_build_s"] = round(time.perf_counter() - t0, 1)
            db = runner.db
            counts = reviews.counts_by_agent(db, roles=[ROLE])
            if counts.get(AGENT) != size:
                raise HitlError(f"benchmark: the inbox header shows {counts.get(AGENT)} reviews, expected {size}")
            wanted = f"rv-clone-{size // 2}"
            figures: dict[str, tuple[float, float]] = {}
            cold, warm, rows = _time_ms(lambda: reviews.inbox(db, status="pending", roles=[ROLE], limit=50), repeats)
            figures["first_page"] = (cold, warm)
            if len(rows) != 50:
                raise HitlError(f"benchmark: the first page holds {len(rows)} reviews, expected 50")
            figures["counts"] = _time_ms(lambda: reviews.counts_by_agent(db, roles=[ROLE]), repeats)[:2]
            cold, warm, (rows, total) = _time_ms(
                lambda: reviews.inbox_page(db, roles=[ROLE], search=wanted.upper(), limit=50), repeats
            )
            figures["search"] = (cold, warm)
            if [r["id"] for r in rows] != [wanted] or total != 1:
                raise HitlError(f"benchmark: searching {wanted!r} found {total} reviews")
            pages: list[float] = []
            for k in range(10):
                t1 = time.perf_counter()
                rows, total = reviews.inbox_page(db, roles=[ROLE], limit=100, offset=100 * k)
                pages.append((time.perf_counter() - t1) * 1000)
                if len(rows) != 100 or total != size:
                    raise HitlError(f"benchmark: page {k + 1} holds {len(rows)} of {total} reviews")
            figures["page100"] = (pages[0], statistics.median(pages[1:]))
            figures["deep_page100"] = _time_ms(lambda: reviews.inbox(db, roles=[ROLE], limit=100, offset=size // 2), 3)[
                :2
            ]
            for name, (cold, warm) in figures.items():
                out[f"{name}_ms"] = round(warm, 2)
                out[f"{name}_cold_ms"] = round(cold, 2)
            log(
                f"inbox at {size:,} pending: first page {out['first_page_ms']} ms, counts {out['counts_ms']} ms, "
                f"search {out['search_ms']} ms, page of 100 {out['page100_ms']} ms, "
                f"page at offset {size // 2:,} {out['deep_page100_ms']} ms"
            )
        finally:
            runner.close()
    return out


def scale_keys(scale: dict[str, Any]) -> dict[str, Any]:
    """The headline keys of the inbox at scale, named for the size measured (`_1m`, `_100k`)."""
    label = scale["label"]
    return {
        f"inbox_first_page_ms_{label}": scale["first_page_ms"],
        f"inbox_counts_ms_{label}": scale["counts_ms"],
        f"inbox_search_ms_{label}": scale["search_ms"],
        f"inbox_page100_ms_{label}": scale["page100_ms"],
    }


# -- 3. concurrent deciders ---------------------------------------------------------------------------------------
def bench_deciders(url: str, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """Measurement 3: reviewers racing over one pool of pending reviews."""
    out: dict[str, Any] = {
        "deciders": "threads of one process sharing one runner; each takes a random review from its inbox's first page",
        "levels": {},
    }
    with scratch_database(url, "decide") as scratch:
        runner = _runner(scratch, pool_size=max(sizes.deciders) + 2)
        try:
            _cycle_runner(runner, list(range(4)), 1, "warm", _Tally())
            for deciders in sizes.deciders:
                pool = [
                    runner.run(
                        AGENT, f"Please credit {i}", thread_id=f"d{deciders}-{i}", user=REQUESTER, context=_context(i)
                    ).reviews[0]
                    for i in range(sizes.decide_pool)
                ]
                ids = set(pool)
                wall, counts, errors = _race(runner, ids, deciders)
                check = _decision_check(runner.db, sorted(ids))
                entry = {
                    "reviews": len(ids),
                    "decisions_per_s": round(counts["decided"] / wall, 1),
                    **counts,
                    "conflicts_refused": counts["refused_already_decided"] + counts["refused_moved_on"],
                    "errors": errors[:5],
                    **check,
                }
                out["levels"][str(deciders)] = entry
                log(
                    f"{deciders} decider(s): {entry['decisions_per_s']} decisions/s, {entry['conflicts_refused']} "
                    f"conflicts refused, {check['lost']} lost, {check['doubled']} doubled"
                )
            out["audit_chain_ok"] = audit.verify(runner.db).ok
        finally:
            runner.close()
    levels = list(out["levels"].values())
    out["lost"] = sum(v["lost"] for v in levels)
    out["doubled"] = sum(v["doubled"] for v in levels)
    out["errors"] = sum(len(v["errors"]) for v in levels)
    return out


def _race(runner: Any, ids: set[str], deciders: int) -> tuple[float, dict[str, int], list[str]]:
    """Reviewers in threads approve reviews of `ids` from their inbox's first page until none is left."""
    counts = {"decided": 0, "refused_already_decided": 0, "refused_moved_on": 0, "refused_other": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def reviewer(index: int) -> None:
        rng = random.Random(index)
        name = f"bench-reviewer-{index}"
        while True:
            page = [r["id"] for r in reviews.inbox(runner.db, roles=[ROLE], agent=AGENT, limit=20) if r["id"] in ids]
            if not page:
                return
            try:
                runner.decide(rng.choice(page), "approve", name)
                key = "decided"
            except Conflict as exc:
                text = str(exc)
                key = (
                    "refused_already_decided"
                    if "already decided" in text
                    else "refused_moved_on"
                    if "no longer waiting" in text
                    else "refused_other"
                )
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                return
            with lock:
                counts[key] += 1

    wall, _ = _parallel(deciders, list(range(deciders)), reviewer)
    return wall, counts, errors


def _decision_check(db: Database, ids: list[str]) -> dict[str, int]:
    """Every review decided exactly once: approved, one decision event, one ledger row, thread completed."""
    names = {f"i{k}": v for k, v in enumerate(ids)}
    among = ", ".join(f":{k}" for k in names)
    approved = db.read(f"SELECT COUNT(*) AS n FROM reviews WHERE id IN ({among}) AND status = 'approved'", names)
    ledger_rows = db.read(
        f"SELECT review_id, COUNT(*) AS n FROM action_ledger WHERE review_id IN ({among}) GROUP BY review_id", names
    )
    events = db.read(
        f"SELECT review_id, COUNT(*) AS n FROM audit_events WHERE kind = 'review_decided' AND review_id IN ({among}) "
        "GROUP BY review_id",
        names,
    )
    completed = db.read(
        f"SELECT COUNT(*) AS n FROM threads t JOIN reviews r ON r.thread_id = t.thread_id "
        f"WHERE r.id IN ({among}) AND t.status = 'completed'",
        names,
    )
    executed = {r["review_id"] for r in ledger_rows}
    decided = {e["review_id"] for e in events}
    return {
        "approved": int(approved[0]["n"]),
        "completed_threads": int(completed[0]["n"]),
        "lost": len(set(ids) - (executed & decided)),
        "doubled": sum(int(r["n"]) - 1 for r in ledger_rows) + sum(int(e["n"]) - 1 for e in events),
    }


# -- 4. storage ---------------------------------------------------------------------------------------------------
def _table_sizes(db: Database) -> dict[str, dict[str, int]]:
    sizes: dict[str, dict[str, int]] = {}
    with db.transaction(write=False) as tx:
        if tx.dialect == "sqlite":
            owners = {
                r["name"]: r["tbl_name"]
                for r in tx.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")
            }
            for row in tx.execute("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name"):
                table = str(owners.get(row["name"], row["name"]))
                entry = sizes.setdefault(table, {"bytes": 0, "rows": 0})
                entry["bytes"] += int(row["bytes"])
        else:
            for row in tx.execute(
                "SELECT c.relname, pg_total_relation_size(c.oid) AS bytes FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            ):
                sizes[str(row["relname"])] = {"bytes": int(row["bytes"]), "rows": 0}
        for table, entry in sizes.items():
            if not table.startswith("sqlite_"):
                entry["rows"] = int(tx.scalar(f'SELECT COUNT(*) AS n FROM "{table}"') or 0)
    return sizes


def _per_thread(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], n: int) -> dict[str, Any]:
    tables: dict[str, dict[str, float]] = {}
    for table, entry in after.items():
        base = before.get(table, {"bytes": 0, "rows": 0})
        rows, size = (entry["rows"] - base["rows"]) / n, (entry["bytes"] - base["bytes"]) / n
        if rows or size:
            tables[table] = {"bytes_per_thread": round(size), "rows_per_thread": round(rows, 2)}
    checkpoint_tables = {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "writes"}
    mine = [v for k, v in tables.items() if k in checkpoint_tables]
    return {
        "bytes_per_thread": round(sum(t["bytes_per_thread"] for t in tables.values())),
        "rows_per_thread": round(sum(t["rows_per_thread"] for t in tables.values()), 2),
        "checkpoint_bytes_per_thread": round(sum(v["bytes_per_thread"] for v in mine)),
        "checkpoint_rows_per_thread": round(sum(v["rows_per_thread"] for v in mine), 2),
        "tables": dict(sorted(tables.items(), key=lambda kv: -kv[1]["bytes_per_thread"])),
    }


def bench_storage(url: str, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """Measurement 4: what one completed thread (run, review, approval, execution) costs on disk.

    As many threads then go through plain LangGraph (the same graph: its ledger rows included).
    """
    n = sizes.storage_threads
    with scratch_database(url, "storage") as scratch:
        runner = _runner(scratch)
        try:
            # Tables created on first use (the memory store, ...) belong to the baseline, not to a thread.
            _cycle_runner(runner, [0], 1, "warm-runner", _Tally())
            _cycle_plain(runner, [0], 1, "warm-plain", _Tally())
            _analyze(runner.db)
            before = _table_sizes(runner.db)
            _cycle_runner(runner, list(range(n)), 1, "runner", _Tally())
            _analyze(runner.db)
            middle = _table_sizes(runner.db)
            _cycle_plain(runner, list(range(n)), 1, "plain", _Tally())
            _analyze(runner.db)
            after = _table_sizes(runner.db)
        finally:
            runner.close()
    dialect = DatabaseURL.parse(url).dialect
    out = {
        "threads": n,
        "measure": "pg_total_relation_size: heap, indexes, TOAST"
        if dialect == "postgresql"
        else "dbstat: table and index pages",
        **_per_thread(before, middle, n),
        "plain": _per_thread(middle, after, n),
    }
    log(
        f"storage per completed thread: runner {out['bytes_per_thread']} bytes, {out['rows_per_thread']} rows; "
        f"plain LangGraph {out['plain']['bytes_per_thread']} bytes, {out['plain']['rows_per_thread']} rows"
    )
    return out


# -- 5. the HTTP API ------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


API_WORKER_CONCURRENCY = 8
"""Jobs the API's worker runs at once (the `hitl worker` child on PostgreSQL, the server's own on SQLite)."""


@contextmanager
def _api_server(url: str) -> Iterator[int]:
    """`hitl serve` over `url` in a child process (the benchmark agent registered by HITL_AGENTS); its port.

    On PostgreSQL a `hitl worker` child process carries out the queued decisions, as in a deployment.
    """
    port = _free_port()
    env = {
        **os.environ,
        "HITL_DATABASE_URL": url,
        "HITL_AGENTS": __name__,
        "HITL_API_POOL_SIZE": "24",
        "HITL_WORKER_CONCURRENCY": str(API_WORKER_CONCURRENCY),
    }

    def child(*argv: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "hitl_cli.main", *argv]
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    process = child("serve", "--port", str(port))
    worker = child("worker") if DatabaseURL.parse(url).dialect == "postgresql" else None
    try:
        if not wait_until_serving(f"http://127.0.0.1:{port}/healthz", process, 120):
            raise HitlError("benchmark: hitl serve did not start")
        yield port
    finally:
        stop(process, worker)


def _http(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    *,
    wait: bool = False,
) -> tuple[int, Any]:
    """One request on a keep-alive connection: the status and the decoded JSON body (`wait`: `Prefer: wait=60`)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if wait:
        headers["Prefer"] = "wait=60"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def _race_http(port: int, ids: set[str], keys: dict[str, str]) -> tuple[float, dict[str, int], list[str]]:
    """`_race` over HTTP: each reviewer thread reads its inbox and approves a random review of `ids`."""
    counts = {"decided": 0, "refused_already_decided": 0, "refused_moved_on": 0, "refused_other": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def reviewer(index: int) -> None:
        rng = random.Random(index)
        token = keys[f"bench-reviewer-{index}"]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while True:
                status, rows = _http(conn, "GET", f"/reviews?role={ROLE}&agent={AGENT}&limit=20", token)
                if status != 200:
                    raise HitlError(f"GET /reviews answered {status}: {rows}")
                page = [r["id"] for r in rows if r["id"] in ids]
                if not page:
                    return
                status, out = _http(
                    conn, "POST", f"/reviews/{rng.choice(page)}/decisions", token, {"decision": "approve"}, wait=True
                )
                while status == 202:  # the wait ran out: follow the job until it has finished
                    status, out = _http(conn, "GET", f"/jobs/{out['job_id']}", token, wait=True)
                    status = 200 if out["status"] in ("done", "failed") else 202
                detail = str(out.get("detail") or out.get("error") or "") if isinstance(out, dict) else ""
                key = (
                    "decided"
                    if status == 200 and out["status"] == "done"
                    else "refused_already_decided"
                    if status == 409 and "already decided" in detail
                    else "refused_moved_on"
                    if status == 409 and "no longer waiting" in detail
                    else "refused_other"
                )
                if key == "refused_other":
                    raise HitlError(f"POST decision answered {status}: {detail}")
                with lock:
                    counts[key] += 1
        except Exception as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    wall, _ = _parallel(REVIEWERS, list(range(REVIEWERS)), reviewer)
    return wall, counts, errors


def bench_api(url: str, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """Measurement 5: reviewers deciding over HTTP, and the inbox's first page over HTTP at many pending reviews."""
    out: dict[str, Any] = {
        "server": "hitl serve (uvicorn, one process) over a scratch space; clients on keep-alive connections",
        "deciders": f"{REVIEWERS} reviewer threads, each GET /reviews then POST /reviews/ID/decisions (approve, "
        "Prefer: wait=60: counted once the queued job has resumed the thread)",
        "worker": f"hitl worker --concurrency {API_WORKER_CONCURRENCY} on PostgreSQL; the server's own on SQLite",
        "inbox": f"GET /reviews?role={ROLE}&limit=50 (by deadline), one client, sequential requests",
    }
    with scratch_database(url, "api") as scratch:
        runner = _runner(scratch)
        try:
            keys = {
                name: tokens.create(runner.db, name, actor="bench")["token"]
                for name in [f"bench-reviewer-{i}" for i in range(REVIEWERS)]
            }
            with _api_server(scratch) as port:
                warm = runner.run(AGENT, "Please credit 0", user=REQUESTER, context=_context(0)).reviews
                _race_http(port, set(warm), keys)  # first requests: imports, compiled graph, pool
                pool = [
                    runner.run(
                        AGENT, f"Please credit {i}", thread_id=f"api-{i}", user=REQUESTER, context=_context(i)
                    ).reviews[0]
                    for i in range(sizes.decide_pool)
                ]
                ids = set(pool)
                wall, counts, errors = _race_http(port, ids, keys)
                check = _decision_check(runner.db, sorted(ids))
                out["decide"] = {
                    "reviews": len(ids),
                    "decisions_per_s": round(counts["decided"] / wall, 1),
                    **counts,
                    "errors": errors[:5],
                    **check,
                }
                log(
                    f"API, {REVIEWERS} reviewers over HTTP: {out['decide']['decisions_per_s']} decisions/s, "
                    f"{check['lost']} lost, {check['doubled']} doubled"
                )
                seed = runner.run(AGENT, "Please credit account 1", user=REQUESTER, context=_context(1))
                latest = runner.snapshot(AGENT, seed.thread_id).config["configurable"]["checkpoint_id"]
                _clone(
                    runner.db,
                    {"t": seed.thread_id, "c": latest, "r": seed.reviews[0]},
                    1,
                    sizes.api_pending - 1,
                    inbox_only=True,
                )
                _analyze(runner.db)
                pending = reviews.counts_by_agent(runner.db, roles=[ROLE]).get(AGENT, 0)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                token = keys["bench-reviewer-0"]
                times: list[float] = []
                try:
                    for _ in range(sizes.api_inbox_requests + 5):
                        t0 = time.perf_counter()
                        status, rows = _http(conn, "GET", f"/reviews?role={ROLE}&limit=50", token)
                        times.append(time.perf_counter() - t0)
                        if status != 200 or len(rows) != 50:
                            raise HitlError(f"benchmark: GET /reviews answered {status} with {len(rows or [])} rows")
                finally:
                    conn.close()
                times = times[5:]  # warm-up
                _, direct_ms, _ = _time_ms(
                    lambda: reviews.inbox(runner.db, status="pending", roles=[ROLE], limit=50), 20
                )
                out["inbox_at"] = {
                    "pending": pending,
                    "requests": len(times),
                    **_latency(times),
                    "in_process_median_ms": round(direct_ms, 2),
                }
                log(
                    f"API inbox at {pending} pending: p50 {out['inbox_at']['p50_ms']} ms, p99 {out['inbox_at']['p99_ms']} ms"
                )
        finally:
            runner.close()
    return out


# -- 6. notification delivery -----------------------------------------------------------------------------------------
class _Receipts:
    """A local webhook receiver (loopback, a free port): when each idempotency key arrived (wall clock)."""

    def __init__(self) -> None:
        arrived: dict[str, float] = {}
        self.arrived = arrived

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived.setdefault(str(self.headers.get(notifications.KEY_HEADER)), time.time())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def bench_notifications(url: str, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """Measurement 6: a review's creation to its signed webhook's receipt at a local receiver."""
    n = sizes.notify_threads
    receipts = _Receipts()
    try:
        with scratch_database(url, "notify") as scratch:
            runner = _runner(scratch)
            settings = runner.settings.model_copy(
                update={
                    "notify_urls": (f"{ROLE}=json://127.0.0.1:{receipts.port}/hitl",),
                    "webhook_secret": secrets.token_hex(16),
                }
            )
            try:
                notifications.deliver_due(runner, settings)  # parse the configuration once, as a worker does
                created: dict[str, float] = {}
                delivering: list[float] = []
                for i in range(n):
                    result = runner.run(
                        AGENT,
                        f"Please credit account {i}",
                        thread_id=f"notify-{i}",
                        user=REQUESTER,
                        context=_context(i),
                    )
                    review = reviews.get(runner.db, result.reviews[0])
                    created[f"hitl:review_requested:{review['id']}"] = parse_iso(review["created_at"]).timestamp()
                    t0 = time.perf_counter()
                    notifications.deliver_due(runner, settings)
                    delivering.append(time.perf_counter() - t0)
            finally:
                runner.close()
    finally:
        receipts.close()
    latency = [receipts.arrived[key] - at for key, at in created.items() if key in receipts.arrived]
    receipt = _latency(latency)
    out: dict[str, Any] = {
        "notifications": n,
        "received": len(latency),
        "lost": n - len(latency),
        "channel": "a signed webhook (json://) to a local HTTP receiver",
        "measure": "the review row's created_at to the webhook's arrival; deliver_due called as soon as each run paused",
        "creation_to_receipt": receipt,
        "deliver_due_call": _latency(delivering),
    }
    log(
        f"notification delivery: p50 {receipt['p50_ms']} ms, p99 {receipt['p99_ms']} ms "
        f"from creation to receipt ({n - len(latency)} lost)"
    )
    return out


# -- the command ----------------------------------------------------------------------------------------------------
def cycle_keys(cycle: dict[str, Any], processes: dict[str, Any]) -> dict[str, Any]:
    """The full cycle's headline keys: the lowest ratio to plain, the ratio to plain "exit" and cycles/s per process count."""
    return {
        "runner_vs_plain_throughput_ratio": cycle["ratio_min"],
        "runner_vs_plain_exit_ratio": cycle["ratio_vs_exit"],
        "process_scaling": {count: level["cycles_per_s"] for count, level in processes["levels"].items()},
    }


def run(
    settings: Settings | None = None,
    *,
    profile: Profile = "full",
    sizes: Sizes | None = None,
    log: Callable[[str], None] | None = None,
    only: str | None = None,
    measure_app: Measurement | None = None,
) -> dict[str, Any]:
    """Every measurement on the configured database's server; the headline keys first, then the figures.

    `only="inbox-scale"` runs the inbox at scale alone (seeding a million rows takes minutes);
    `only="cycle"` the full cycle alone, in threads and in processes.
    `measure_app` (the CLI passes `hitl_lab.bench_ui.bench_app` for `--ui`) adds the review app's
    timings in Chromium (`app_timings`); `only="ui"` runs those alone. It is passed in, not imported,
    because the app benchmark builds on this module's fixtures.
    """
    settings = settings or configured()
    chosen = sizes or PROFILES[profile]
    quick = profile == "quick"
    say = log or (lambda text: None)
    dialect = DatabaseURL.parse(settings.database_url).dialect
    started = time.perf_counter()
    elapsed: dict[str, float] = {}

    def timed(name: str, measure: Measurement) -> dict[str, Any]:
        t0 = time.perf_counter()
        result = measure(settings.database_url, chosen, say)
        elapsed[name] = round(time.perf_counter() - t0, 1)
        return result

    if only == "cycle":  # the full cycle alone, in threads and in processes (`hitl bench --only cycle`)
        cycle = timed("cycle", bench_cycle)
        processes = timed("processes", bench_processes)
        return {
            **cycle_keys(cycle, processes),
            "database": dialect,
            "quick": quick,
            "profile": profile,
            "only": only,
            "elapsed_s": round(time.perf_counter() - started, 1),
            "elapsed_s_by_measurement": elapsed,
            "cycle": cycle,
            "processes": processes,
        }

    def app() -> dict[str, Any]:
        return timed("app", measure_app) if measure_app is not None else {}

    if only == "ui":  # the review app's timings alone (`hitl bench --only ui`)
        if measure_app is None:
            raise BadInput("--only ui needs the review app's measurement (hitl_lab.bench_ui.bench_app)")
        figures = app()
        return {
            "database": dialect,
            "quick": quick,
            "profile": profile,
            "only": only,
            "elapsed_s": round(time.perf_counter() - started, 1),
            **figures,
        }
    if only == "inbox-scale":  # the inbox at scale alone (`hitl bench --only inbox-scale`)
        scale = timed("inbox_scale", bench_inbox_scale)
        return {
            **scale_keys(scale),
            "database": dialect,
            "quick": quick,
            "profile": profile,
            "only": only,
            **app(),
            "elapsed_s": round(time.perf_counter() - started, 1),
            "inbox_scale": scale,
        }
    cycle = timed("cycle", bench_cycle)
    processes = timed("processes", bench_processes)
    inbox = timed("inbox", bench_inbox)
    scale = timed("inbox_scale", bench_inbox_scale)
    deciders = timed("deciders", bench_deciders)
    storage = timed("storage", bench_storage)
    api = timed("api", bench_api)
    in_process = deciders["levels"][str(REVIEWERS)]["decisions_per_s"] if str(REVIEWERS) in deciders["levels"] else None
    notify = timed("notifications", bench_notifications)
    app_figures = app()
    by_size = inbox["sizes"]
    largest = by_size[str(max(chosen.inbox_sizes))]
    return {
        **cycle_keys(cycle, processes),
        "inbox_vs_public_api_speedup_10k": (by_size.get("10000") or {}).get("speedup"),
        "inbox_first_page_ms_100k": (by_size.get("100000") or {}).get("inbox_first_page_ms"),
        "inbox_search_ms_10k": (by_size.get("10000") or {}).get("inbox_search_ms"),
        **scale_keys(scale),
        "public_api_ms_100k_measured": bool((by_size.get("100000") or {}).get("public_api_measured")),
        "decisions_lost": deciders["lost"] + api["decide"]["lost"],
        "decisions_doubled": deciders["doubled"] + api["decide"]["doubled"],
        "api_decisions_per_s": api["decide"]["decisions_per_s"],
        "api_vs_in_process_decisions_ratio": round(api["decide"]["decisions_per_s"] / in_process, 3)
        if in_process
        else None,
        "api_inbox_p99_ms": api["inbox_at"]["p99_ms"],
        "api_inbox_pending": api["inbox_at"]["pending"],
        "notification_delivery_p50_ms": notify["creation_to_receipt"]["p50_ms"],
        **app_figures,
        "database": dialect,
        "quick": quick,
        "profile": profile,
        "largest_inbox": largest["pending_threads"],
        "elapsed_s": round(time.perf_counter() - started, 1),
        "elapsed_s_by_measurement": elapsed,
        "cycle": cycle,
        "processes": processes,
        "inbox": inbox,
        "inbox_scale": scale,
        "deciders": deciders,
        "storage": storage,
        "api": api,
        "notifications": notify,
    }


# -- the table ------------------------------------------------------------------------------------------------------
def render(report: dict[str, Any]) -> str:
    """The report as the table `hitl bench` prints."""
    profile = report.get("profile", "quick" if report["quick"] else "full")
    head = (
        f"hitl bench on {report['database']}{'' if profile == 'full' else f' (--{profile})'}, {report['elapsed_s']} s"
    )
    app = ["", *render_app(report)] if "app_timings" in report else []
    if report.get("only") == "inbox-scale":
        return "\n".join([head, "", *_render_scale(report["inbox_scale"]), *app])
    if report.get("only") == "ui":
        return "\n".join([head, *app])
    lines = [head, "", *_render_cycle(report)]
    if report.get("only") == "cycle":
        return "\n".join(lines)
    lines += [
        "",
        "2. finding pending reviews: the inbox's first page against discovery through the public API",
        f"{'pending':>8} {'inbox ms':>9} {'cold ms':>8} {'counts ms':>10} {'search ms':>10} {'public API ms':>14} "
        f"{'speedup':>10}",
    ]
    for size, entry in report["inbox"]["sizes"].items():
        mark = "" if entry["public_api_measured"] else "  (public API extrapolated)"
        lines.append(
            f"{size:>8} {entry['inbox_first_page_ms']:>9} {entry['inbox_first_page_cold_ms']:>8} "
            f"{entry['inbox_counts_ms']:>10} {entry['inbox_search_ms']:>10} {entry['public_api_ms']:>14} "
            f"{entry['speedup']:>9}x{mark}"
        )
    lines += [
        f"fixture: {report['inbox']['fixture']}",
        "",
        *_render_scale(report["inbox_scale"]),
        "",
        f"3. concurrent deciders ({report['deciders']['deciders']})",
        f"{'deciders':>8} {'reviews':>8} {'decided/s':>10} {'refused':>8} {'lost':>5} {'doubled':>8} {'errors':>7}",
    ]
    for deciders, entry in report["deciders"]["levels"].items():
        lines.append(
            f"{deciders:>8} {entry['reviews']:>8} {entry['decisions_per_s']:>10} {entry['conflicts_refused']:>8} "
            f"{entry['lost']:>5} {entry['doubled']:>8} {len(entry['errors']):>7}"
        )
    storage = report["storage"]
    plain = storage["plain"]
    lines += [
        f"audit chains verify: {report['deciders']['audit_chain_ok']}",
        "",
        f"4. storage per completed thread ({storage['measure']}; {storage['threads']} threads each)",
        f"runner: {storage['bytes_per_thread']} bytes, {storage['rows_per_thread']} rows "
        f"(checkpoints: {storage['checkpoint_bytes_per_thread']} bytes, {storage['checkpoint_rows_per_thread']} rows)",
        f"plain LangGraph: {plain['bytes_per_thread']} bytes, {plain['rows_per_thread']} rows "
        f"(checkpoints: {plain['checkpoint_bytes_per_thread']} bytes, {plain['checkpoint_rows_per_thread']} rows)",
    ]
    lines += [
        f"  {table:<22} {t['bytes_per_thread']:>8} bytes {t['rows_per_thread']:>7} rows"
        for table, t in storage["tables"].items()
    ]
    api = report.get("api")
    if api:
        decide, inbox = api["decide"], api["inbox_at"]
        lines += [
            "",
            f"5. the HTTP API ({api['server']})",
            f"{api['deciders']}: {decide['decisions_per_s']} decisions/s on {decide['reviews']} reviews, "
            f"{decide['refused_already_decided'] + decide['refused_moved_on']} races refused, {decide['lost']} lost, "
            f"{decide['doubled']} doubled; in-process ratio {report.get('api_vs_in_process_decisions_ratio')}",
            f"{api['inbox']} at {inbox['pending']} pending: p50 {inbox['p50_ms']} ms, p99 {inbox['p99_ms']} ms "
            f"({inbox['requests']} requests)",
        ]
    notify = report["notifications"]
    lines += [
        "",
        f"6. notification delivery ({notify['channel']}; {notify['notifications']} reviews, {notify['lost']} lost)",
        f"creation to receipt: p50 {notify['creation_to_receipt']['p50_ms']} ms, "
        f"p99 {notify['creation_to_receipt']['p99_ms']} ms; one deliver_due call: "
        f"p50 {notify['deliver_due_call']['p50_ms']} ms",
        f"notification_delivery_p50_ms: {report['notification_delivery_p50_ms']}",
        *app,
    ]
    return "\n".join(lines)


def _render_cycle(report: dict[str, Any]) -> list[str]:
    """Measurement 1's and 1b's lines."""
    cycle, processes = report["cycle"], report["processes"]
    lines = [
        f"1. full cycle: start to pause, then decide to complete ({cycle['workers']}; plain: {cycle['plain']}; "
        f"plain_exit: {cycle['plain_exit']})",
        f"{'workers':>7}  {'way':<10} {'cycle/s':>8} {'start/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'decide/s':>9} {'p50 ms':>8} {'p99 ms':>8}",
    ]

    def row(workers: str, way: str, f: dict[str, Any]) -> str:
        s, e = f["start_to_pause"], f["decide_to_complete"]
        return (
            f"{workers:>7}  {way:<10} {f['full_cycle_threads_per_s']:>8} {s['threads_per_s']:>8} {s['p50_ms']:>8} "
            f"{s['p99_ms']:>8} {e['threads_per_s']:>9} {e['p50_ms']:>8} {e['p99_ms']:>8}"
        )

    for workers, level in cycle["levels"].items():
        lines += [row(workers, way, level[way]) for way in ("plain", "plain_exit", "runner")]
        lines.append(f"{'':>7}  runner / plain: {level['ratio']}, runner / plain_exit: {level['ratio_vs_exit']}")
    lines += [
        f"runner_vs_plain_throughput_ratio (lowest over workers): {report['runner_vs_plain_throughput_ratio']}",
        f"runner_vs_plain_exit_ratio (by workers): {report['runner_vs_plain_exit_ratio']}",
        "",
        f"1b. full cycle in several processes ({processes['workers']}; {processes['cores']} cores)",
        f"{'processes':>9} {'cycles/s':>9} {'efficiency':>11} {'CPU ms/cycle':>13} {'wall ms/cycle':>14}",
    ]
    lines += [
        f"{count:>9} {level['cycles_per_s']:>9} {level['per_process_efficiency']:>11} {level['cpu_ms_per_cycle']:>13} "
        f"{level['wall_ms_per_cycle_per_process']:>14}"
        for count, level in processes["levels"].items()
    ]
    if processes["oversubscribed"]:
        lines.append(f"  more processes than cores (they queue for a core): {processes['oversubscribed']}")
    return lines


def render_app(report: dict[str, Any]) -> list[str]:
    """The app timings as a short table."""
    run = report["app_run"]
    lines = [
        f"7. the review app in Chromium ({run['app']}; {run['repeats']} repeats each)",
        f"{'step':<20} {'pending':>8} {'n':>3} {'median ms':>10} {'p95 ms':>8}",
    ]
    for name, f in report["app_timings"].items():
        lines.append(f"{name:<20} {f['pending']:>8} {f['n']:>3} {f['median_ms']:>10} {f['p95_ms']:>8}")
    lines.append(f"decisions recorded: {run['approved']} approved, {run['ledger_rows']} ledger rows")
    return lines


def _render_scale(scale: dict[str, Any]) -> list[str]:
    """Measurement 2b's lines."""
    lines = [f"2b. the inbox at {scale['pending']:,} pending ({scale['fixture']})"]
    for name, query in scale["queries"].items():
        lines.append(f"  {name:<13} {scale[f'{name}_ms']:>9} ms (cold {scale[f'{name}_cold_ms']} ms)  {query}")
    if scale.get("note"):
        lines.append(f"  note: {scale['note']}")
    return lines
