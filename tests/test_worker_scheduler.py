"""SQLite's in-process worker: deadlines expire and submitted jobs run with nobody running a command."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from hitl_core import jobs as store
from hitl_core import ledger, reviews
from hitl_core.canonical import iso, utc_now
from hitl_core.settings import Settings
from hitl_core.users import add_user
from hitl_runtime import jobs
from hitl_runtime.runner import Runner
from hitl_runtime.worker import InProcessWorker, cron_every
from tests.helpers import refund_ask, refund_request


def _until(check, what, timeout=30.0):
    # Waits for an outcome; the bound only keeps a broken build from hanging (no duration is asserted).
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen")
        time.sleep(0.05)


@pytest.fixture
def local(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/hitl.db",
        sweep_interval_seconds=0.2,
        worker_poll_seconds=0.1,
        worker_heartbeat_seconds=0.2,
        resume_grace_seconds=3600,
    )
    runner = Runner(settings)
    for name, roles in {"sam": ["support_agent"], "eve": ["end_user"]}.items():
        add_user(runner.db, name, roles, actor="test")
    yield runner
    runner.close()


def test_a_review_past_its_deadline_expires_without_anyone_running_sweep(local):
    pending = refund_request(local, 18)
    review_id = pending.reviews[0]
    worker = InProcessWorker(local).start()
    try:
        with local.db.transaction() as tx:
            tx.execute(
                "UPDATE reviews SET deadline = :d WHERE id = :i",
                {"d": iso(utc_now() - timedelta(seconds=1)), "i": review_id},
            )
        _until(lambda: reviews.get(local.db, review_id)["status"] == "expired", "expiry")
        _until(lambda: local.state(pending.thread_id).status == "completed", "the fallback")
    finally:
        worker.stop()
    assert not [a for a in ledger.list_entries(local.db, thread_id=pending.thread_id) if a["name"] == "refund"]


def test_submitted_work_runs_in_process_and_its_effect_happens_once(local):
    worker = InProcessWorker(local, concurrency=3).start()
    try:
        text, context = refund_ask(42)
        job = jobs.submit_run(local, "support", text, user="eve", context=context)
        _until(lambda: jobs.status(local, job)["status"] == "done", "the run job")
        review_id = jobs.status(local, job)["result"]["reviews"][0]
        decision = jobs.submit_decision(local, review_id, "approve", "sam")
        _until(lambda: jobs.status(local, decision)["status"] == "done", "the decision job")
    finally:
        worker.stop()
    thread_id = jobs.status(local, job)["thread_id"]
    assert jobs.status(local, decision)["result"]["status"] == "completed"
    assert len([a for a in ledger.list_entries(local.db, thread_id=thread_id) if a["name"] == "refund"]) == 1


def test_a_local_job_of_a_silent_process_is_queued_again_and_completes_once(local):
    text, context = refund_ask(42)
    job = jobs.submit_run(local, "support", text, user="eve", context=context)
    claimed = store.claim_local(local.db)  # a process claimed it, then died without a word
    assert claimed is not None and claimed["id"] == job
    assert store.claim_local(local.db) is None  # nobody else may take it meanwhile
    worker = InProcessWorker(local).start()
    try:
        _until(lambda: jobs.status(local, job)["status"] == "done", "the stalled job")
    finally:
        worker.stop()
    assert jobs.status(local, job)["attempts"] == 2
    assert jobs.status(local, job)["result"]["status"] == "pending_review"


def test_intervals_become_procrastinate_crons():
    assert cron_every(15) == "* * * * * */15"
    assert cron_every(0.2) == "* * * * * */1"
    assert cron_every(300) == "*/5 * * * *"
