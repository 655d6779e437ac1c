"""Submit a run, a reply or a decision for a worker to carry out, so no web request waits on a model.

Submission does everything that can be refused (the agent, the message, the reviewer's authority,
the deadline, the payload hash: the same checks and one-line errors as the command line) and
records the request, with its job, in one transaction. A bad request is refused at once and
queues nothing. The worker then only advances the thread (`Runner.carry_on` / `Runner.apply`),
which is safe to repeat: a job run twice after a crash still has its effects once (leases, ledger).
"""

from __future__ import annotations

import threading
from typing import Any

from hitl_core import jobs as store
from hitl_core import reviews
from hitl_core.canonical import new_id
from hitl_core.db import Tx
from hitl_core.errors import HitlError, Unavailable
from hitl_core.leases import LeaseBusy, LeaseLost
from hitl_runtime import queue
from hitl_runtime.runner import Runner, RunResult

RETRYABLE = (LeaseBusy, LeaseLost, Unavailable)
"""Passing obstacles: another process holds the thread (a killed worker's lease not lapsed yet), or the database is away."""

MAX_ATTEMPTS = 60
"""A job still meeting obstacles after this many attempts fails, with the last obstacle as its reason."""

local_wakeup = threading.Event()
"""Set when a job is queued for this process's in-process executor (SQLite), so it starts at once."""


class RetryLater(Exception):
    """The job met a passing obstacle; procrastinate's retry strategy queues it again."""


def _prepare(runner: Runner) -> None:
    """Procrastinate's tables must exist before a transaction defers into them (PostgreSQL only)."""
    if runner.db.dialect == "postgresql":
        queue.ensure_schema(runner.db)


def _enqueue_in(tx: Tx, kind: str, thread_id: str, created: list[str], **fields: Any) -> None:
    """The job row, and on PostgreSQL procrastinate's job, in the transaction that records the request."""
    backend = "procrastinate" if tx.dialect == "postgresql" else "local"
    job_id = store.create(tx, kind=kind, thread_id=thread_id, backend=backend, **fields)
    if backend == "procrastinate":
        queue.defer_in(tx, job_id, thread_id)
    created.append(job_id)


def _queued(created: list[str]) -> str:
    local_wakeup.set()
    return created[0]


def submit_run(
    runner: Runner,
    agent: str,
    message: str,
    *,
    thread_id: str | None = None,
    user: str | None = None,
    context: dict[str, Any] | None = None,
) -> str:
    """Start a turn (new thread, or a finished one's next turn) in a worker; the job's id."""
    _prepare(runner)
    thread = thread_id or new_id("th")
    created: list[str] = []

    def enqueue(tx: Tx) -> None:
        _enqueue_in(tx, "run", thread, created, requested_by=user)

    runner.run(agent, message, thread_id=thread, user=user, context=context, enqueue=enqueue)
    return _queued(created)


def submit_reply(runner: Runner, thread_id: str, message: str, *, user: str | None = None) -> str:
    """Record the requester's answer now; a worker resumes the thread with it. The job's id."""
    _prepare(runner)
    created: list[str] = []

    def enqueue(tx: Tx) -> None:
        # The question this transaction has just marked answered.
        question = tx.one(
            "SELECT id, requester FROM reviews WHERE thread_id = :t AND kind = 'question' AND status = 'answered' "
            "AND applied_at IS NULL ORDER BY decided_at DESC LIMIT 1",
            {"t": thread_id},
        )
        assert question is not None
        _enqueue_in(tx, "reply", thread_id, created, review_id=question["id"], requested_by=question["requester"])

    runner.reply(thread_id, message, user=user, enqueue=enqueue)
    return _queued(created)


def submit_decision(
    runner: Runner,
    review_id: str,
    decision: str,
    reviewer: str,
    *,
    args: dict[str, Any] | None = None,
    comment: str | None = None,
    category: str | None = None,
    seen_hash: str | None = None,
    channel: str = "api",
    authenticated: bool = True,
) -> str:
    """Check and record a reviewer's decision now (`Runner.decide`'s checks); a worker resumes the thread.

    One approval of several resumes nothing: its job is done at once, its result saying so.
    """
    _prepare(runner)
    created: list[str] = []

    def enqueue(tx: Tx) -> None:
        found = tx.one("SELECT thread_id FROM reviews WHERE id = :i", {"i": review_id})
        assert found is not None
        _enqueue_in(tx, "decision", str(found["thread_id"]), created, review_id=review_id, requested_by=reviewer)

    answer = runner.decide(
        review_id,
        decision,
        reviewer,
        args=args,
        comment=comment,
        category=category,
        seen_hash=seen_hash,
        channel=channel,
        authenticated=authenticated,
        enqueue=enqueue,
    )
    if created:
        return _queued(created)
    with runner.db.transaction() as tx:  # waiting for another approver: nothing for a worker to do
        found = tx.one("SELECT thread_id FROM reviews WHERE id = :i", {"i": review_id})
        thread_id = str(found["thread_id"]) if found else ""
        return store.record_done(
            tx, kind="decision", thread_id=thread_id, review_id=review_id, result=answer, requested_by=reviewer
        )


def status(runner: Runner, job_id: str) -> dict[str, Any]:
    """Where a job stands: queued, running, done (with `result`: the thread as the job left it) or failed (`error`)."""
    return store.get(runner.db, job_id)


def outcome(runner: Runner, job: dict[str, Any]) -> dict[str, Any] | None:
    """What the synchronous call answers (`hitl run/reply/decide --json`), for a done job; None before.

    A run's or a reply's job keeps exactly that (the thread as the job left it). A decision's keeps
    the thread only, so the decision's own fields (its status and who decided, final once recorded)
    are read back from its review around it; one approval of several kept its whole answer.
    """
    if job["status"] != "done":
        return None
    result: dict[str, Any] = job["result"]
    if job["kind"] != "decision" or job["backend"] == "none":
        return result
    review = reviews.get(runner.db, str(job["review_id"]))
    return {"review_id": review["id"], "status": review["status"], "decided_by": review["decided_by"], "thread": result}


def perform(runner: Runner, row: dict[str, Any]) -> RunResult:
    """Advance the job's thread: continue a recorded turn, or apply a recorded decision or answer."""
    if row["kind"] == "run":
        return runner.carry_on(str(row["thread_id"]))
    return runner.apply(str(row["review_id"]))


def execute(runner: Runner, job_id: str, *, claimed: dict[str, Any] | None = None, retry_delay: float = 1.0) -> str:
    """Carry out one job and record how it ended; its final status here ('done', 'failed' or 'queued').

    A passing obstacle queues the job again: locally after `retry_delay`, on PostgreSQL by raising
    RetryLater for procrastinate's retry strategy.
    """
    row = claimed or store.start(runner.db, job_id)
    try:
        result = perform(runner, row)
    except RETRYABLE as exc:
        if int(row["attempts"]) >= MAX_ATTEMPTS:
            store.fail(runner.db, job_id, f"gave up after {row['attempts']} attempts: {line(exc)}")
            return "failed"
        store.retry_later(runner.db, job_id, line(exc), retry_delay)
        if row["backend"] == "procrastinate":
            raise RetryLater(line(exc)) from exc
        return "queued"
    except HitlError as exc:
        store.fail(runner.db, job_id, line(exc))
        return "failed"
    except Exception as exc:  # a bug or a broken agent: recorded on the job, not retried for ever
        store.fail(runner.db, job_id, f"{type(exc).__name__}: {line(exc)}")
        return "failed"
    store.finish(runner.db, job_id, result.as_dict())
    return "done"


def line(exc: BaseException) -> str:
    """The first line of an error (what a job keeps and the logs show)."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
