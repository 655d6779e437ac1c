"""Property-based hostile input: always a one-line error or a normal answer, never a state change on error."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails.policy import parse_policy
from hitl_cli.main import main
from hitl_core.errors import BadInput, HitlError
from hitl_runtime.evaluation import load_scenarios
from tests.helpers import refund_request

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _snapshot(runner) -> tuple:
    db = runner.db
    return tuple(
        db.read(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]
        for table in ("reviews", "audit_events", "action_ledger", "feedback", "review_approvals", "threads")
    ) + tuple((r["id"], r["status"]) for r in db.read("SELECT id, status FROM reviews ORDER BY id"))


@pytest.fixture
def pending(runner):
    return refund_request(runner, 64).reviews[0]


@FAST
@given(
    decision=st.text(max_size=20),
    args=JSONISH,
    comment=st.none() | st.text(max_size=50),
    category=st.none() | st.text(max_size=12),
)
def test_arbitrary_decisions(runner, pending, decision, args, comment, category):
    before = _snapshot(runner)
    try:
        runner.decide(
            pending, decision, "sam", args=args if isinstance(args, dict) else None, comment=comment, category=category
        )
    except HitlError as exc:
        assert "\n" not in str(exc)
        assert _snapshot(runner) == before
        return
    # A normal answer is only possible for a valid decision.
    assert decision.strip().lower().replace("-", "_") in ("approve", "edit", "reject", "request_info", "escalate")


@FAST
@given(
    args=st.dictionaries(st.sampled_from(["order_id", "amount", "currency", "reason", "extra"]), JSONISH, max_size=4)
)
def test_arbitrary_edit_arguments(runner, pending, args):
    before = _snapshot(runner)
    try:
        out = runner.decide(pending, "edit", "sam", args=args)
    except HitlError as exc:
        assert "\n" not in str(exc)
        assert _snapshot(runner) == before
        return
    assert out["status"] == "approved_with_edits"


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=400))
def test_arbitrary_policy_text(text):
    try:
        parse_policy(text, "p.yaml")
    except BadInput as exc:
        assert "\n" not in str(exc) and str(exc).startswith("p.yaml")


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.one_of(st.text(max_size=60), JSONISH.map(json.dumps)), min_size=1, max_size=4))
def test_arbitrary_scenario_files(tmp_path_factory, lines):
    path = Path(tmp_path_factory.mktemp("s")) / "cases.jsonl"
    path.write_text("\n".join(line.replace("\n", " ") for line in lines))
    try:
        load_scenarios(path)
    except BadInput as exc:
        assert "\n" not in str(exc)


@FAST
@given(
    argv=st.lists(
        st.sampled_from(
            [
                "run",
                "decide",
                "show",
                "reviews",
                "--json",
                "--as",
                "sam",
                "support",
                "{",
                "--args",
                "--limit",
                "-1",
                "approve",
                "--status",
                "weird",
                "audit",
                "verify",
                "rollback",
            ]
        ),
        max_size=6,
    )
)
def test_arbitrary_command_lines(runner, settings, argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    assert code in (0, 1, 2)
    if code != 0:
        assert len(err.getvalue().strip().splitlines()) <= 1 or err.getvalue().startswith("usage:")
        assert "Traceback" not in err.getvalue()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=st.text(min_size=1, max_size=300))
def test_arbitrary_chat_messages(runner, message):
    try:
        result = runner.run("support", message, user="eve")
    except HitlError as exc:
        assert "\n" not in str(exc)
        return
    assert result.status in ("completed", "pending_review", "needs_info", "blocked")
