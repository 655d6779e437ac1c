"""Queued work on both backends: submission refuses bad requests at once; `hitl worker --once` does the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from hitl_core import audit, ledger, reviews
from hitl_core.canonical import iso, utc_now
from hitl_core.errors import BadInput, Forbidden
from hitl_runtime import jobs, queue
from tests.helpers import refund_ask, refund_request, vague_request
from tests.notify_fixtures import SECRET, receiver  # noqa: F401 (a fixture)


def _worker_once(settings, *extra, env=None):
    # A long grace: the sweep must not carry the queued thread on itself; the job is what advances it.
    env = {**os.environ, "HITL_DATABASE_URL": settings.database_url, "HITL_RESUME_GRACE_SECONDS": "3600", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hitl_cli.main", "worker", "--once", "--json", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _queued(runner):
    count = runner.db.read("SELECT COUNT(*) AS n FROM hitl_jobs")[0]["n"]
    if runner.db.dialect == "postgresql":
        queue.ensure_schema(runner.db)
        count += runner.db.read("SELECT COUNT(*) AS n FROM procrastinate_jobs WHERE task_name = 'hitl.execute_job'")[0][
            "n"
        ]
    return count


def test_a_bad_submission_is_refused_at_once_with_the_command_lines_error_and_queues_nothing(runner):
    pending = refund_request(runner, 30)
    review_id = pending.reviews[0]
    before = _queued(runner)
    with pytest.raises(BadInput) as refused:
        jobs.submit_run(runner, "no-such-agent", "hello", user="eve")
    with pytest.raises(BadInput) as direct:  # what `hitl run` prints after "hitl: "
        runner.run("no-such-agent", "hello", user="eve")
    assert str(refused.value) == str(direct.value) and "unknown agent 'no-such-agent'" in str(refused.value)
    with pytest.raises(BadInput, match="unknown decision 'maybe'"):
        jobs.submit_decision(runner, review_id, "maybe", "sam")
    with pytest.raises(Forbidden, match="may not decide"):
        jobs.submit_decision(runner, review_id, "approve", "olga")
    with pytest.raises(BadInput, match="empty"):
        jobs.submit_run(runner, "support", "   ", user="eve")
    assert _queued(runner) == before
    assert reviews.get(runner.db, review_id)["status"] == "pending"


def test_worker_once_runs_a_submitted_run_then_a_submitted_decision(runner, settings):
    text, context = refund_ask(42)
    job = jobs.submit_run(runner, "support", text, user="eve", context=context)
    queued = jobs.status(runner, job)
    assert queued["status"] == "queued" and queued["kind"] == "run"
    assert runner.thread(queued["thread_id"])["status"] == "running"  # recorded, not yet advanced

    done = _worker_once(settings)
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)["steps"]
    assert steps["sweep"]["errors"] == [] and steps["audit_checkpoint"]["ok"] is True
    ran = jobs.status(runner, job)
    assert ran["status"] == "done" and ran["attempts"] == 1, ran
    assert ran["result"]["status"] == "pending_review" and ran["result"]["action"]["name"] == "refund"
    review_id = ran["result"]["reviews"][0]
    assert runner.state(ran["thread_id"]).status == "pending_review"

    decision = jobs.submit_decision(runner, review_id, "approve", "sam")
    assert reviews.get(runner.db, review_id)["status"] == "approved"  # recorded at once, applied by the worker
    assert jobs.status(runner, decision)["status"] == "queued"
    assert _worker_once(settings).returncode == 0
    applied = jobs.status(runner, decision)
    assert applied["status"] == "done" and applied["result"]["status"] == "completed", applied
    refunds = [a for a in ledger.list_entries(runner.db, thread_id=ran["thread_id"]) if a["name"] == "refund"]
    assert len(refunds) == 1
    assert runner.state(ran["thread_id"]).status == "completed"
    assert audit.verify(runner.db).ok


def test_worker_once_expires_an_overdue_review_by_its_policys_fallback(runner, settings):
    pending = refund_request(runner, 18)
    review_id = pending.reviews[0]
    with runner.db.transaction() as tx:
        tx.execute(
            "UPDATE reviews SET deadline = :d WHERE id = :i",
            {"d": iso(utc_now() - timedelta(minutes=1)), "i": review_id},
        )
    done = _worker_once(settings)
    assert done.returncode == 0, done.stderr
    expired = json.loads(done.stdout)["steps"]["sweep"]["expired"]
    assert {"review_id": review_id, "fallback": "reject"} in expired
    assert reviews.get(runner.db, review_id)["status"] == "expired"
    assert runner.state(pending.thread_id).status == "completed"
    assert not [a for a in ledger.list_entries(runner.db, thread_id=pending.thread_id) if a["name"] == "refund"]


def test_an_answer_is_recorded_at_once_and_applied_by_the_worker(runner, settings):
    asked = vague_request(runner)
    assert asked.status == "needs_info"
    job = jobs.submit_reply(runner, asked.thread_id, "The blender, order o-555111; it arrived cracked.", user="eve")
    assert jobs.status(runner, job)["status"] == "queued"
    assert _worker_once(settings).returncode == 0
    answered = jobs.status(runner, job)
    assert answered["status"] == "done", answered
    assert reviews.get(runner.db, asked.reviews[0])["applied_at"] is not None  # the thread consumed the answer
    assert answered["result"]["reviews"] != asked.reviews  # and moved on (asking again, or proposing)
    assert answered["result"] == runner.state(asked.thread_id).as_dict()


def test_worker_refuses_a_bad_concurrency_in_one_line(capsys):
    from hitl_cli.main import main

    assert main(["worker", "--once", "--concurrency", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--concurrency" in err and "1 to 64" in err


def test_a_decision_jobs_outcome_is_decides_answer_and_only_its_submitter_reads_it(runner, settings, policy_dir):
    from hitl_core.errors import NotFound
    from hitl_core.users import get_user
    from hitl_runtime import access

    text = (policy_dir / "support.yaml").read_text()
    text = text.replace(
        "roles: [support_agent, support_lead], max_amount: 200}",
        "roles: [support_agent, support_lead], max_amount: 200, approvals: 2}",
    )
    (policy_dir / "support.yaml").write_text(text)
    review_id = refund_request(runner, 35).reviews[0]
    assert reviews.get(runner.db, review_id)["approvals_required"] == 2

    first = jobs.submit_decision(runner, review_id, "approve", "sam")  # one of two: nothing for a worker
    waiting = access.job(runner, get_user(runner.db, "sam"), first)
    assert waiting["status"] == "done" and waiting["requested_by"] == "sam"
    assert jobs.outcome(runner, waiting) == waiting["result"] and waiting["result"]["approvals"] == 1
    for other in ("sue", "ada"):
        with pytest.raises(NotFound, match=f"unknown job '{first}'"):
            access.job(runner, get_user(runner.db, other), first)

    second = jobs.submit_decision(runner, review_id, "approve", "sue")
    assert jobs.outcome(runner, jobs.status(runner, second)) is None  # not done yet
    assert _worker_once(settings).returncode == 0
    done = access.job(runner, get_user(runner.db, "sue"), second)
    answer = jobs.outcome(runner, done)
    assert answer is not None and answer["thread"] == done["result"]  # `hitl decide --json`'s shape around it
    assert {k: answer[k] for k in ("review_id", "status", "decided_by")} == {
        "review_id": review_id,
        "status": "approved",
        "decided_by": "sue",
    }
    assert answer["thread"]["status"] == "completed"


def test_worker_once_delivers_the_notifications_that_are_due(runner, settings, receiver):  # noqa: F811 (the fixture)
    """Nobody runs `hitl notifications deliver`: the worker's periodic step sends the new review's webhook."""
    review_id = refund_request(runner, 19).reviews[0]
    done = _worker_once(
        settings,
        env={"HITL_NOTIFY_URLS": "support_agent=" + receiver.url("/agents"), "HITL_WEBHOOK_SECRET": SECRET},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["steps"]["notifications"]["sent"] >= 1
    keys = [r.headers["idempotency-key"] for r in receiver.accepted("/agents")]
    assert f"hitl:review_requested:{review_id}" in keys


def test_worker_refuses_a_bad_notification_setting_in_one_line(settings):
    done = _worker_once(settings, env={"HITL_NOTIFY_URLS": "nobody_has_this_role=json://127.0.0.1:9/x"})
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "HITL_NOTIFY_URLS" in line
