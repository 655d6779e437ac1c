"""Bounded input: every input has a size and shape limit, and what JSON or UTF-8 cannot carry is refused.

The CLI part runs the real `hitl` in a subprocess on a SQLite file: a refusal is exit 2 with one
line on stderr, and nothing in the database changes. The rest tests `hitl_core.limits` and the
policy loader in process.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guardrails.policy import MAX_POLICY_CHARS, load_policy_file, parse_policy
from hitl_core import limits
from hitl_core.errors import BadInput
from hitl_core.limits import check_text, check_value, parse_json_object
from hitl_runtime.agents import shipped_policy_files

HITL = str(Path(sys.executable).with_name("hitl"))
CONTEXT = {
    "customer": {"id": "c-bound", "name": "Eve Example", "tier": "standard", "lifetime_value": 150},
    "order": {"id": "o-424242", "amount": 64, "currency": "USD", "days_since_delivery": 3},
}
REFUND = "My kettle arrived broken. Can I get my $64 back for order o-424242?"


# -- the real command line ----------------------------------------------------------------------------
class Cli:
    """`hitl` in a subprocess against one SQLite file."""

    def __init__(self, folder: Path) -> None:
        self.database = folder / "hitl.db"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
        self.env["HITL_DATABASE_URL"] = f"sqlite:///{self.database}"

    def __call__(self, *args: str | bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([HITL, *args], env=self.env, capture_output=True, timeout=120, check=False)

    def state(self) -> tuple[object, ...]:
        """Row counts and review statuses: what a refused call must leave as it was."""
        with sqlite3.connect(self.database) as conn:
            counts = tuple(
                conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("threads", "reviews", "audit_events", "action_ledger", "feedback", "sim_orders")
            )
            statuses = tuple(conn.execute("SELECT id, status FROM reviews ORDER BY id").fetchall())
        return counts + statuses


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    tool = Cli(tmp_path_factory.mktemp("cli"))
    for name, role in (("sam", "support_agent"), ("lee", "support_lead")):
        assert tool("users", "add", name, "--role", role).returncode == 0
    return tool


@pytest.fixture(scope="module")
def review(cli: Cli) -> str:
    """A pending refund review."""
    done = cli("run", "support", REFUND, "--context", json.dumps(CONTEXT), "--user", "eve", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "pending_review", result
    return str(result["reviews"][0])


def refused(cli: Cli, *args: str | bytes) -> str:
    """Run a call that must be refused as bad input (exit 2, one line) without changing anything."""
    before = cli.state()
    done = cli(*args)
    err = done.stderr.decode("utf-8", "replace").strip()
    assert done.returncode == 2, (done.returncode, err)
    assert err.startswith("hitl: ") and "\n" not in err, err
    assert "internal error" not in err, err
    assert cli.state() == before
    return err


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_amount_in_edit_args(cli, review, literal):
    err = refused(cli, "decide", review, "edit", "--as", "lee", "--args", f'{{"amount": {literal}}}')
    assert literal in err and "--args" in err


@pytest.mark.parametrize("digits", [30, 5000])
def test_oversized_integer_in_edit_args(cli, review, digits):
    err = refused(cli, "decide", review, "edit", "--as", "lee", "--args", '{"amount": 1' + "0" * digits + "}")
    assert "--args" in err


def test_non_number_amount_in_edit_args(cli, review):
    err = refused(cli, "decide", review, "edit", "--as", "lee", "--args", '{"amount": "lots"}')
    assert "amount" in err


def test_edit_args_too_deep_or_too_large(cli, review):
    assert "deeper" in refused(cli, "decide", review, "edit", "--as", "lee", "--args", '{"a":' * 20 + "1" + "}" * 20)
    big = json.dumps({"reason": "x" * (limits.MAX_ARGS + 1)})
    assert "longer than" in refused(cli, "decide", review, "edit", "--as", "lee", "--args", big)


def test_lone_surrogate_in_message(cli):
    # "\ud800" encoded as UTF-8 bytes (what a shell's $'\ud800' produces): Python sees lone surrogates.
    err = refused(cli, "run", "support", b"hello \xed\xa0\x80 there", "--context", json.dumps(CONTEXT))
    assert "the message is not valid UTF-8" in err


def test_invalid_utf8_in_message(cli):
    err = refused(cli, "run", "support", b"my order \xff\xfe is late", "--context", json.dumps(CONTEXT))
    assert "the message is not valid UTF-8" in err


def test_invalid_utf8_in_comment(cli, review):
    err = refused(cli, "decide", review, "reject", "--as", "lee", "--comment", b"bad \xff comment")
    assert "--comment is not valid UTF-8" in err


def test_invalid_utf8_in_any_argument(cli, review):
    assert "REVIEW_ID is not valid UTF-8" in refused(cli, "decide", b"rv-\xff", "approve", "--as", "lee")
    assert "--as is not valid UTF-8" in refused(cli, "decide", review, "approve", "--as", b"l\xffe")


def test_lone_surrogate_escape_in_json_args(cli, review):
    err = refused(cli, "decide", review, "edit", "--as", "lee", "--args", '{"reason": "x\\ud800"}')
    assert "surrogate" in err


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN"])
def test_non_finite_number_in_context_is_not_stored(cli, literal):
    context = json.dumps(CONTEXT).replace('"lifetime_value": 150', f'"lifetime_value": {literal}')
    err = refused(cli, "run", "support", "What are your support hours?", "--context", context)
    assert "--context" in err and literal in err


def test_oversized_integer_in_context(cli):
    context = json.dumps(CONTEXT).replace('"amount": 64', f'"amount": {2**64}')
    assert "--context" in refused(cli, "run", "support", REFUND, "--context", context)


def test_a_valid_decision_still_goes_through(cli, review):
    done = cli("decide", review, "edit", "--as", "lee", "--args", '{"amount": 30}', "--comment", "half: café")
    assert done.returncode == 0, done.stderr


# -- limits.py in process -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "NUL"),
        ("x\ud800y", "lone surrogate"),
        (float("nan"), "NaN"),
        (float("inf"), "infinite"),
        (-float("inf"), "infinite"),
        (2**53 + 1, "2**53"),
        (-(2**53) - 1, "2**53"),
        ({"a": {"b": "c\x00"}}, "NUL"),
        ({"k\udcff": 1}, "lone surrogate"),
        ({"a": [1, 2, float("nan")]}, "NaN"),
    ],
)
def test_check_value_refuses(value, reason):
    with pytest.raises(BadInput) as caught:
        check_value({"v": value} if not isinstance(value, dict) else value, "context")
    message = str(caught.value)
    assert reason in message and "\n" not in message and message.startswith("--context")


def test_check_value_bounds_shape_and_size():
    deep: object = 1
    for _ in range(limits.MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(BadInput, match="deeper than"):
        check_value({"x": deep}, "context")
    with pytest.raises(BadInput, match="keys"):
        check_value({f"k{i}": i for i in range(limits.MAX_KEYS + 1)}, "context")
    with pytest.raises(BadInput, match="array items"):
        check_value({"x": list(range(limits.MAX_ITEMS + 1))}, "context")
    with pytest.raises(BadInput, match="longer than"):
        check_value({"document": "x" * (limits.MAX_CONTEXT_STRING + 1)}, "context")
    with pytest.raises(BadInput, match="larger than"):
        check_value({f"d{i}": "x" * 15_000 for i in range(5)}, "context")
    with pytest.raises(BadInput, match="longer than"):
        check_value("x" * (limits.MAX_COMMENT + 1), "comment")
    # What is within the limits comes back unchanged.
    ok = {"a": [1, 2.5, True, None, "text"], "n": 2**53, "m": -(2**53), "deep": [[[[1]]]]}
    assert check_value(ok, "args") is ok
    assert check_text("héllo", "the message", 10) == "héllo"


def test_parse_json_object():
    assert parse_json_object('{"amount": 12.5, "n": 3}', "--args") == {"amount": 12.5, "n": 3}
    for text, reason in (
        ('{"a": NaN}', "NaN"),
        ('{"a": Infinity}', "Infinity"),
        ('{"a": -Infinity}', "-Infinity"),
        ('{"a": 1e999}', "too large"),
        ('{"a": 9007199254740993}', "2**53"),
        ('{"a": ' + "9" * 5000 + "}", "digits"),
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
        ("{nope", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "longer than"),
        ('{"a":' * 5000 + "1" + "}" * 5000, "deeper than"),
        ('{"a": "\\u0000"}', "NUL"),
        ('{"a": "\\udc80"}', "surrogate"),
    ):
        with pytest.raises(BadInput) as caught:
            parse_json_object(text, "--context")
        assert reason in str(caught.value), (text[:40], str(caught.value))
        assert "\n" not in str(caught.value)


def test_parse_json_object_recursion_is_bad_input():
    # Deeper than the interpreter's recursion limit yet within the size limit: still one line, exit 2.
    with pytest.raises(BadInput, match="deeper than"):
        parse_json_object("[" * 30_000 + "]" * 30_000, "--context")


def test_finite_floats_survive():
    assert math.isclose(parse_json_object('{"x": 1.5e300}', "--context")["x"], 1.5e300)


# -- policy files ---------------------------------------------------------------------------------------
def _shipped(agent: str = "support") -> str:
    return shipped_policy_files()[agent].read_text(encoding="utf-8")


def test_policy_alias_is_refused_with_its_line():
    text = _shipped().replace("agent: support", "agent: &who support\nalso: *who", 1)
    with pytest.raises(BadInput) as caught:
        parse_policy(text, "support.yaml")
    message = str(caught.value)
    assert "support.yaml" in message and "line " in message and "alias" in message and "\n" not in message


def test_policy_billion_laughs_is_refused_at_once():
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        levels.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    bomb = "\n".join(levels) + "\n"
    started = time.process_time()  # processor time: a busy shared machine does not stretch it
    with pytest.raises(BadInput, match="line 1"):
        parse_policy(bomb, "bomb.yaml")
    assert time.process_time() - started < 1.0


def test_policy_merge_key_needs_an_alias_and_is_refused():
    text = "base: &base {review: always}\nactions:\n  refund:\n    <<: *base\n"
    with pytest.raises(BadInput, match="line 1"):
        parse_policy(text, "merge.yaml")


def test_policy_size_is_capped(tmp_path):
    text = _shipped() + "\n" + "# padding\n" * (MAX_POLICY_CHARS // 10 + 1)
    with pytest.raises(BadInput, match="larger than"):
        parse_policy(text, "big.yaml")
    path = tmp_path / "support.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput, match="larger than"):
        load_policy_file(path)


@pytest.mark.parametrize("agent", ["support", "ops", "compliance"])
def test_shipped_policies_still_load(agent):
    assert parse_policy(_shipped(agent), f"{agent}.yaml").agent == agent
