"""The command-line contract: JSON shapes, exit codes 0/1/2, one-line errors, no change on error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN_KEYS = {"thread_id", "status", "route", "risk", "confidence", "reasons", "action", "reviews", "reply"}


@pytest.fixture
def hitl(settings, runner):
    def call(
        *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "HITL_DATABASE_URL": settings.database_url, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "hitl_cli.main", *args],
            input=stdin,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return call


def _json(proc: subprocess.CompletedProcess[str]):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_run_show_decide_actions_audit(hitl):
    context = json.dumps(
        {
            "customer": {"id": "c-cli", "name": "Cli Ent"},
            "order": {"id": "o-9191", "amount": 45, "days_since_delivery": 2},
        }
    )
    run = _json(
        hitl(
            "run",
            "support",
            "My blender jar cracked, can I get my $45 back?",
            "--user",
            "eve",
            "--context",
            context,
            "--json",
        )
    )
    assert set(run) >= RUN_KEYS
    assert (run["status"], run["route"], run["action"]["name"]) == ("pending_review", "review", "refund")
    assert 0 <= run["risk"] <= 1 and 0 <= run["confidence"] <= 1
    review_id = run["reviews"][0]
    listed = _json(hitl("reviews", "--status", "pending", "--role", "support_agent", "--agent", "support", "--json"))
    assert review_id in [r["id"] for r in listed]
    assert [r["id"] for r in _json(hitl("reviews", "--search", "O-9191", "--json"))] == [review_id]
    assert _json(hitl("reviews", "--search", "9191%", "--json")) == []  # LIKE wildcards are literal
    assert "search text is longer than 200" in _one_line_error(hitl("reviews", "--search", "x" * 300), 2)
    shown = _json(hitl("show", review_id, "--json"))
    assert shown["interrupt"]["action_requests"][0]["name"] == "refund"
    decided = _json(hitl("decide", review_id, "approve", "--as", "sam", "--comment", "ok", "--json"))
    assert decided["status"] == "approved" and decided["thread"]["status"] == "completed"
    actions = _json(hitl("actions", "--thread", run["thread_id"], "--json"))
    assert [(a["name"], a["status"]) for a in actions] == [("refund", "executed")]
    assert {"id", "thread_id", "name", "args", "status", "idempotency_key"} <= set(actions[0])
    history = _json(hitl("audit", run["thread_id"], "--json"))
    assert [e["kind"] for e in history][-2:] == ["action_executed", "turn_finished"]
    verify = _json(hitl("audit", "verify", "--json"))
    assert verify["ok"] is True
    rolled = _json(hitl("rollback", actions[0]["id"], "--as", "lee", "--json"))
    assert rolled["status"] == "rolled_back"
    metrics = _json(hitl("metrics", "--json"))
    for key in (
        "approval_rate",
        "edit_rate",
        "rejection_rate",
        "escalation_rate",
        "time_to_review",
        "false_approval_rate",
        "correction_categories",
        "calibration",
        "post_approval_incident_rate",
        "per_agent",
        "per_action",
    ):
        assert key in metrics
    assert metrics["false_approval_rate"] > 0  # the rolled-back refund counts as a false approval


def test_needs_info_then_reply(hitl):
    run = _json(hitl("run", "support", "I'd like to return something.", "--user", "eve", "--json"))
    assert run["status"] == "needs_info" and run["route"] == "needs_info" and run["action"] is None
    answered = _json(hitl("reply", run["thread_id"], "It is order o-0000, a toaster", "--json"))
    assert answered["status"] == "needs_info"  # unknown order: the agent asks again, politely
    assert "couldn't find order o-0000" in answered["reply"]


def test_bad_input_exit_2_and_no_change(hitl, runner):
    before = runner.db.read("SELECT COUNT(*) AS n FROM reviews")[0]["n"]
    assert "unknown review" in _one_line_error(hitl("decide", "rv-nope", "approve", "--as", "sam"), 2)
    assert "not valid JSON" in _one_line_error(hitl("run", "support", "hi", "--context", "{oops"), 2)
    assert "unknown agent" in _one_line_error(hitl("run", "sales", "hi"), 2)
    assert "the message is empty" in _one_line_error(hitl("run", "support", "  "), 2)
    assert "invalid thread id" in _one_line_error(hitl("run", "support", "hi", "--thread", "a b"), 2)
    assert "unknown role" in _one_line_error(hitl("users", "add", "x", "--role", "wizard"), 2)
    assert _one_line_error(hitl("decide"), 2).startswith("hitl:")
    assert "unknown decision" in _one_line_error(hitl("decide", "rv-nope", "bless", "--as", "sam"), 2)
    assert runner.db.read("SELECT COUNT(*) AS n FROM reviews")[0]["n"] == before


def test_edit_with_bad_args_changes_nothing(hitl, runner):
    from tests.helpers import refund_request

    review_id = refund_request(runner, 70).reviews[0]
    assert "not valid JSON" in _one_line_error(
        hitl("decide", review_id, "edit", "--as", "sam", "--args", "{amount: 5"), 2
    )
    assert "amount" in _one_line_error(
        hitl("decide", review_id, "edit", "--as", "sam", "--args", '{"amount": "lots"}'), 2
    )
    assert "must be a JSON object" in _one_line_error(
        hitl("decide", review_id, "edit", "--as", "sam", "--args", "[1]"), 2
    )
    assert runner.show(review_id)["status"] == "pending"


def test_broken_policy_file_is_refused_before_any_write(hitl, runner, policy_dir: Path):
    (policy_dir / "support.yaml").write_text("agent: support\nthresholds: {auto_min_confidence: 2}\n")
    before = runner.db.read("SELECT COUNT(*) AS n FROM threads")[0]["n"]
    line = _one_line_error(hitl("run", "support", "What are your hours?", env={"HITL_POLICY_DIR": str(policy_dir)}), 2)
    assert line.startswith("hitl: support.yaml:")
    assert runner.db.read("SELECT COUNT(*) AS n FROM threads")[0]["n"] == before


def test_database_down_is_a_one_line_runtime_failure(hitl):
    line = _one_line_error(hitl("reviews", env={"HITL_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}), 1)
    assert "cannot reach PostgreSQL" in line
    assert "not supported" in _one_line_error(hitl("reviews", env={"HITL_DATABASE_URL": "mysql://x"}), 2)


def test_users_and_passwords(hitl, runner):
    from hitl_core import tokens

    admin = {"HITL_TOKEN": tokens.create(runner.db, "ada", actor="test")["token"]}  # accounts need an admin
    made = _json(
        hitl(
            "users",
            "add",
            "pat",
            "--role",
            "support_lead",
            "--role",
            "sre",
            "--password-stdin",
            "--json",
            stdin="correct horse battery\n",
            env=admin,
        )
    )
    assert made == {"name": "pat", "roles": ["sre", "support_lead"]}
    from hitl_core.users import authenticate

    assert authenticate(runner.db, "pat", "correct horse battery") is not None
    assert authenticate(runner.db, "pat", "wrong") is None
    stored = runner.db.read("SELECT password_hash FROM users WHERE name = 'pat'")[0]["password_hash"]
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert "at least 8" in _one_line_error(
        hitl("users", "add", "pat", "--role", "sre", "--password-stdin", stdin="short\n"), 2
    )


def test_audit_verify_fails_with_exit_1_after_tampering(hitl, runner):
    from tests.helpers import question

    question(runner)
    with runner.db.transaction() as tx:
        tx.execute("UPDATE audit_events SET data = '{}' WHERE kind = 'request_received'")
    proc = hitl("audit", "verify")
    assert proc.returncode == 1 and "BROKEN" in proc.stdout


def test_db_upgrade_is_idempotent(hitl):
    first = _json(hitl("db", "upgrade", "--json"))
    assert _json(hitl("db", "upgrade", "--json")) == first


def test_decide_ignore_dismisses_with_a_reason(hitl, runner):
    from hitl_core import audit, ledger
    from tests.helpers import close_ticket_request

    review_id = close_ticket_request(runner).reviews[0]
    line = _one_line_error(hitl("decide", review_id, "ignore", "--as", "sam"), 2)
    assert (
        line == "hitl: ignore needs --comment with the reason (kept in the audit trail, never shown to the requester)"
    )
    done = hitl("decide", review_id, "ignore", "--as", "sam", "--comment", "duplicate of another ticket")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"review {review_id}: dismissed by sam; thread dismissed"
    thread_id = runner.show(review_id)["thread_id"]
    assert ledger.list_entries(runner.db, thread_id=thread_id) == []
    decided = [e for e in audit.thread_history(runner.db, thread_id) if e["kind"] == "review_decided"]
    assert [(e["data"]["decision"], e["data"]["channel"]) for e in decided] == [("ignore", "cli")]
    assert "ignore" in hitl("decide", "--help").stdout


_GRAPH_MACHINERY = (
    "langgraph.pregel",
    "langchain_core.language_models.chat_models",
    "graphs.support.graph",
    "graphs.ops.graph",
    "graphs.compliance.graph",
)
_LOADED = """
import json, sys
from hitl_cli.main import main
code = main(sys.argv[1:])
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "command",
    [
        ["db", "upgrade", "--json"],
        ["reviews", "--json"],
        ["show", "REVIEW", "--json"],
        ["actions", "--json"],
        ["audit", "verify", "--json"],
        ["metrics", "--json"],
        ["users", "list", "--json"],
        ["audit", "checkpoint", "--json"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_commands_that_only_use_the_database_do_not_load_the_agents_graphs(settings, runner, command):
    """An operator's `hitl reviews` answers in a fraction of a second: no graph, no LangChain is imported."""
    from tests.helpers import refund_request

    paused = refund_request(runner, 40)  # a pending review, so the listing has something to list
    assert paused.status == "pending_review"
    command = [paused.reviews[0] if part == "REVIEW" else part for part in command]
    environment = {**os.environ, "HITL_DATABASE_URL": settings.database_url}
    proc = subprocess.run(
        [sys.executable, "-c", _LOADED.format(heavy=_GRAPH_MACHINERY), *command],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["heavy"] == []
    printed = json.loads(proc.stdout)  # the command still printed its one JSON document
    broken = isinstance(printed, dict) and printed.get("ok") is False  # a test beside this one tampers the audit
    assert report["code"] == (1 if broken else 0), proc.stderr
    if command[0] == "reviews":
        assert paused.reviews[0] in {r["id"] for r in printed}
    if command[0] == "show":
        assert printed["interrupt"]["review_id"] == paused.reviews[0]
        assert printed["interrupt"] == runner.show(paused.reviews[0])["interrupt"]
