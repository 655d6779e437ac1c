"""Real `hitl worker` processes on PostgreSQL (procrastinate): deadlines, queued jobs, and a worker killed mid-job."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hitl_core import audit, ledger, reviews
from hitl_core.canonical import iso, utc_now
from hitl_core.settings import Settings
from hitl_core.users import add_user
from hitl_runtime import jobs, queue, worker
from hitl_runtime.runner import Runner
from tests.conftest import _drop_pg_database, _fresh_pg_database, pg_url, require_postgres
from tests.helpers import refund_ask, refund_request, stop

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_database():
    require_postgres()
    name = _fresh_pg_database("hitl_worker_pg")
    try:
        yield pg_url(name)
    finally:
        _drop_pg_database(name)


@pytest.fixture
def runner(pg_database):
    # A short lease: a killed worker's hold on its thread lapses quickly.
    instance = Runner(Settings(database_url=pg_database, lease_seconds=2, resume_grace_seconds=3600))
    for name, roles in {"sam": ["support_agent"], "eve": ["end_user"]}.items():
        add_user(instance.db, name, roles, actor="test")
    yield instance
    instance.close()


def _worker(url, **env):
    # The sweep may not finish decisions itself (long grace): what is tested is that the queue does.
    environ = {
        **os.environ,
        "HITL_DATABASE_URL": url,
        "HITL_RESUME_GRACE_SECONDS": "3600",
        "HITL_LEASE_SECONDS": "2",
        "HITL_SWEEP_INTERVAL_SECONDS": "1",
        "HITL_WORKER_HEARTBEAT_SECONDS": "1",  # a loaded machine must not look like a dead worker
        "HITL_WORKER_POLL_SECONDS": "0.2",
        **env,
    }
    log = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this call; a file, not a pipe: a full pipe would stall the worker
    process = subprocess.Popen(
        [sys.executable, "-m", "hitl_cli.main", "worker", "--concurrency", "2"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    _logs[process.pid] = log  # Popen keeps no handle on a file it was given
    return process


_logs: dict[int, Any] = {}


def _until(check, what, timeout=120.0, describe=lambda: ""):
    # Waits for an outcome; the bound only keeps a broken build from hanging (no duration is asserted).
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen {describe()}")
        time.sleep(0.1)


def _stderr(worker):
    log = _logs[worker.pid]
    log.seek(0)
    text = log.read().decode(errors="replace")
    log.seek(0, os.SEEK_END)
    return text[-2000:]


def _refunds(runner, thread_id):
    return [a for a in ledger.list_entries(runner.db, thread_id=thread_id) if a["name"] == "refund"]


def test_a_running_worker_expires_overdue_reviews_and_runs_submitted_work(runner, pg_database):
    pending = refund_request(runner, 18)
    worker = _worker(pg_database)
    try:
        with runner.db.transaction() as tx:
            tx.execute(
                "UPDATE reviews SET deadline = :d WHERE id = :i",
                {"d": iso(utc_now() - timedelta(seconds=1)), "i": pending.reviews[0]},
            )
        _until(
            lambda: reviews.get(runner.db, pending.reviews[0])["status"] == "expired",
            "expiry",
            describe=lambda: (worker.poll(), _stderr(worker)),
        )
        _until(lambda: runner.state(pending.thread_id).status == "completed", "the fallback")

        text, context = refund_ask(42)
        job = jobs.submit_run(runner, "support", text, user="eve", context=context)
        _until(lambda: jobs.status(runner, job)["status"] == "done", "the run job")
        assert jobs.status(runner, job)["result"]["status"] == "pending_review"
    finally:
        stop(worker)
    assert worker.returncode == 0, _stderr(worker)
    assert _refunds(runner, pending.thread_id) == []


def test_a_worker_killed_mid_execution_its_job_is_taken_over_and_the_effect_happens_once(
    runner, pg_database, tmp_path: Path
):
    pending = refund_request(runner, 42)
    review_id = pending.reviews[0]
    marker = tmp_path / "held"
    # Both workers hold at the same point; only the first to arrive stops there (hitl_core/faults.py).
    hold = {"HITL_HOLD_AT": "inside_execution", "HITL_HOLD_FILE": str(marker)}
    first, second = _worker(pg_database, **hold), _worker(pg_database, **hold)
    try:
        job = jobs.submit_decision(runner, review_id, "approve", "sam")
        _until(
            lambda: marker.exists() and marker.read_text().strip() != "",
            "a worker reaching the effect",
            describe=lambda: (first.poll(), second.poll(), _stderr(first)),
        )
        held_pid = int(marker.read_text())
        victim, survivor = (first, second) if held_pid == first.pid else (second, first)
        assert victim.pid == held_pid

        # Mid-effect: the job is taken by one worker only, and nothing is committed yet.
        (row,) = runner.db.read("SELECT status FROM procrastinate_jobs WHERE args->>'job_id' = :j", {"j": job})
        assert row["status"] == "doing"
        assert jobs.status(runner, job)["status"] == "running" and _refunds(runner, pending.thread_id) == []

        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        _until(
            lambda: jobs.status(runner, job)["status"] == "done",
            "the job taken over by the surviving worker",
            describe=lambda: (
                jobs.status(runner, job),
                runner.db.read("SELECT id, task_name, status, lock, worker_id, attempts FROM procrastinate_jobs"),
                runner.db.read("SELECT * FROM procrastinate_workers"),
                survivor.poll(),
                _stderr(survivor),
            ),
        )
        assert survivor.poll() is None  # the survivor did it, and is still serving
    finally:
        stop(first, second)

    done = jobs.status(runner, job)
    assert done["attempts"] == 2 and done["result"]["status"] == "completed", done
    (refund,) = _refunds(runner, pending.thread_id)  # exactly one effect
    assert refund["review_id"] == review_id
    events = runner.db.read(
        "SELECT e.type FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id "
        "WHERE j.args->>'job_id' = :j ORDER BY e.id",
        {"j": job},
    )
    assert [e["type"] for e in events].count("started") == 2
    assert runner.state(pending.thread_id).status == "completed"
    assert audit.verify(runner.db).ok


def test_worker_once_takes_over_the_job_of_a_killed_worker(runner, pg_database, tmp_path: Path):
    pending = refund_request(runner, 37)
    marker = tmp_path / "held"
    worker = _worker(pg_database, HITL_HOLD_AT="inside_execution", HITL_HOLD_FILE=str(marker))
    try:
        job = jobs.submit_decision(runner, pending.reviews[0], "approve", "sam")
        _until(lambda: marker.exists() and marker.read_text().strip() != "", "the worker reaching the effect")
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop(worker)
    env = {
        **os.environ,
        "HITL_DATABASE_URL": pg_database,
        "HITL_RESUME_GRACE_SECONDS": "3600",
        "HITL_LEASE_SECONDS": "2",
        "HITL_WORKER_HEARTBEAT_SECONDS": "1",
    }

    def once() -> bool:
        # Cron's way: run it again until the dead worker's heartbeat is old enough for its job to be taken.
        done = subprocess.run(
            [sys.executable, "-m", "hitl_cli.main", "worker", "--once"], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return jobs.status(runner, job)["status"] == "done"

    _until(once, "the job taken over by hitl worker --once")
    assert jobs.status(runner, job)["result"]["status"] == "completed"
    assert len(_refunds(runner, pending.thread_id)) == 1


def test_a_killed_worker_s_periodic_step_already_queued_again_does_not_stop_the_requeue_of_its_jobs(runner):
    # A worker killed during a periodic step leaves the step `doing` while the next tick's twin waits
    # under the same queueing lock: putting the stalled one back would break that lock's uniqueness
    # (procrastinate #1446). The twin does the step; the killed worker's job must still be requeued.
    queue.ensure_schema(runner.db)
    app = worker.periodic_app(runner)
    step = "hitl.periodic.sweep"
    with runner.db.transaction() as tx:
        dead = tx.one(
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') RETURNING id"
        )
        assert dead is not None

        def job(task: str, status: str, lock: str | None, queueing_lock: str | None, args: str) -> int:
            row = tx.one(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, status, worker_id) "
                "VALUES (:q, :t, :l, :ql, CAST(:a AS jsonb), CAST(:s AS procrastinate_job_status), :w) RETURNING id",
                {
                    "q": queue.QUEUE,
                    "t": task,
                    "l": lock,
                    "ql": queueing_lock,
                    "a": args,
                    "s": status,
                    "w": dead["id"] if status == "doing" else None,
                },
            )
            assert row is not None
            return int(row["id"])

        stalled_step = job(step, "doing", step, step, '{"timestamp": 1}')
        queued_step = job(step, "todo", step, step, '{"timestamp": 2}')
        stalled_job = job(queue.TASK_NAME, "doing", "thread:t-requeue", None, '{"job_id": "absent"}')
    try:

        async def requeue() -> int:
            async with app.open_async():
                return await worker.requeue_stalled(app, 3)

        assert asyncio.run(requeue()) == 1  # the job; the step is finished, its twin runs it
        rows = runner.db.read(
            "SELECT id, status, attempts FROM procrastinate_jobs WHERE id IN (:a, :b, :c)",
            {"a": stalled_step, "b": queued_step, "c": stalled_job},
        )
        status = {r["id"]: (r["status"], r["attempts"]) for r in rows}
        assert status[stalled_job] == ("todo", 1)  # taken up again by the next worker
        assert status[queued_step] == ("todo", 0)  # the next tick's step is left to run
        assert status[stalled_step][0] == "failed"  # no longer `doing`: its lock no longer holds the step back
    finally:
        with runner.db.transaction() as tx:
            tx.execute(
                "DELETE FROM procrastinate_jobs WHERE id IN (:a, :b, :c)",
                {"a": stalled_step, "b": queued_step, "c": stalled_job},
            )
            tx.execute("DELETE FROM procrastinate_workers WHERE id = :w", {"w": dead["id"]})


def test_a_worker_whose_heartbeat_fails_exits_with_an_error_for_its_supervisor():
    """procrastinate stops a worker whose side task (heartbeat, listener) fails and returns as if asked
    to: `hitl worker` ended with exit 0, so a supervisor restarting it only on failure left no worker."""
    import psycopg

    name = _fresh_pg_database("hitl_worker_hb")
    url = pg_url(name)
    try:
        worker = _worker(url)  # it makes the schema and the queue's tables as it starts
        try:
            with psycopg.connect(url, autocommit=True) as conn:

                def registered() -> bool:
                    try:
                        return conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0] > 0
                    except psycopg.errors.UndefinedTable:
                        return False

                _until(registered, "the worker registering", describe=lambda: (worker.poll(), _stderr(worker)))
                # The database refuses the heartbeat from now on, as it would a revoked grant.
                conn.execute("ALTER FUNCTION procrastinate_update_heartbeat_v1(bigint) RENAME TO heartbeat_withdrawn")
            _until(lambda: worker.poll() is not None, "the worker stopping", describe=lambda: _stderr(worker))
        finally:
            stop(worker)
        assert worker.returncode == 1, _stderr(worker)
        last = _stderr(worker).strip().splitlines()[-1]
        assert last.startswith("hitl: ") and "heartbeat" in last, last
    finally:
        _drop_pg_database(name)
