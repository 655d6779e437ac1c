"""The inbox query on both backends: literal search over request, target and id, the total, and dense rows."""

from __future__ import annotations

from typing import Any

import pytest

from hitl_core import reviews
from hitl_core.errors import BadInput
from hitl_core.users import add_user
from hitl_runtime import inbox as lines
from tests.helpers import refund_request, unique


def _ids(runner: Any, text: str, **filters: Any) -> set[str]:
    return {r["id"] for r in reviews.inbox(runner.db, search=text, limit=1000, **filters)}


def _restart(runner: Any, name: str, env: str) -> Any:
    for engineer in ("sid", "sia"):
        add_user(runner.db, engineer, ["sre"], actor="test")
    context = {"service": {"name": name, "env": env, "replicas": 3, "version": "2.0.0", "previous_version": "1.9.0"}}
    return runner.run(
        "ops",
        f"Restart {name} in production, the pods are OOMKilled.",
        user="eve",
        context=context,
        thread_id=unique("th"),
    )


def test_search_finds_request_text_target_and_id_case_aside(runner):
    marker = unique("kettle")
    result = refund_request(runner, 40, message=f"My {marker.upper()} arrived broken. Can I get my $40 back?")
    other = refund_request(runner, 45)
    (review_id,) = result.reviews
    order = runner.show(review_id)["args"]["order_id"]
    assert _ids(runner, marker) == {review_id}  # the request's words, whatever their case
    assert _ids(runner, order) == {review_id}  # the target, from the action's arguments
    assert _ids(runner, review_id.upper()) == {review_id}  # the review id
    assert other.reviews[0] not in _ids(runner, marker)
    assert reviews.inbox_count(runner.db, search=marker) == 1
    assert reviews.inbox_count(runner.db, search=marker, agent="ops") == 0  # other filters still apply
    assert _ids(runner, "   ") >= {review_id, other.reviews[0]}  # blank text: no search


def test_like_wildcards_in_the_search_are_literal(runner):
    marker = unique("pct")
    literal = refund_request(runner, 30, message=f"Refund 50% of {marker}, about $30, the lid is cracked.")
    near = refund_request(runner, 31, message=f"Refund 500 of {marker}X, about $31, the lid is cracked.")
    assert literal.reviews and near.reviews
    assert _ids(runner, "50%") >= {literal.reviews[0]}
    assert near.reviews[0] not in _ids(runner, "50%")  # '%' is no wildcard
    assert _ids(runner, f"{marker}_") == set()  # nor is '_': no request has the marker followed by '_'
    assert _ids(runner, f"{marker}X") == {near.reviews[0]}


@pytest.mark.parametrize(
    "text",
    ["'; DROP TABLE reviews; --", "\\", "\\%", '"}', "ünïcödé ☃", "a\tb\nc", "' OR 1=1 --"],
)
def test_odd_search_text_is_just_text(runner, text):
    refund_request(runner, 20)
    assert reviews.inbox(runner.db, search=text) == []  # matched literally: nothing holds these
    assert reviews.inbox_count(runner.db, search=text) == 0
    assert reviews.inbox_count(runner.db) > 0  # and the table is intact


def test_bad_search_text_is_a_one_line_error(runner):
    with pytest.raises(BadInput, match="the search text is longer than 200 characters"):
        reviews.inbox(runner.db, search="x" * 10_000)
    with pytest.raises(BadInput, match="the search text contains a NUL character"):
        reviews.inbox_count(runner.db, search="a\x00b")


def test_escalated_review_keeps_its_age_and_names_who_escalated(runner):
    result = refund_request(runner, 50)
    (first,) = result.reviews
    opened = runner.show(first)["created_at"]
    out = runner.decide(first, "escalate", "sam", comment="unsure about this customer")
    (second,) = out["thread"]["reviews"]
    (row,) = [r for r in reviews.inbox(runner.db, role="support_lead", limit=1000) if r["id"] == second]
    assert row["escalated_by"] == "sam"
    assert row["first_requested_at"] == opened < row["created_at"]
    assert row["request"].startswith("My kettle arrived broken")
    (fresh,) = [r for r in reviews.inbox(runner.db, role="support_agent", limit=1000) if r["id"] == first] or [None]
    assert fresh is None  # the escalated one left the first tier's inbox


def test_two_approver_rows_count_approvals_and_name_their_service(runner):
    one, two = unique("svc"), unique("svc")
    first, second = _restart(runner, one, "prod"), _restart(runner, two, "prod")
    runner.decide(first.reviews[0], "approve", "sid")
    rows = {r["id"]: lines.line(r) for r in reviews.inbox(runner.db, role="sre", limit=1000)}
    a, b = rows[first.reviews[0]], rows[second.reviews[0]]
    assert (a["approvals"], a["approvals_required"]) == (1, 2)
    assert (b["approvals"], b["approvals_required"]) == (0, 2)
    assert a["target"] == f"service={one} env=prod" and b["target"] == f"service={two} env=prod"
    assert a["summary"] != b["summary"] and a["action"] == b["action"] == "restart_service"
    assert _ids(runner, two, role="sre") == {second.reviews[0]}  # the service is searchable


def test_refund_line_has_currency_and_order_target(runner):
    result = refund_request(runner, 40)
    (row,) = [r for r in reviews.inbox(runner.db, limit=1000) if r["id"] == result.reviews[0]]
    line = lines.line(row)
    assert line["currency"] == "USD"
    assert line["target"] == f"order_id={row['args']['order_id']}"
    assert line["summary"].startswith("My kettle arrived broken")


def test_inbox_page_gives_the_page_and_the_total(runner):
    marker = unique("page")
    made = [
        refund_request(runner, 20 + i, message=f"Refund ${20 + i} for {marker} item {i}.").reviews[0] for i in range(3)
    ]
    rows, total = reviews.inbox_page(runner.db, search=marker, limit=2, sort="oldest")
    assert total == 3 == reviews.inbox_count(runner.db, search=marker)
    assert [r["id"] for r in rows] == made[:2]
    rows, total = reviews.inbox_page(runner.db, search=marker, limit=2, offset=2, sort="oldest")
    assert ([r["id"] for r in rows], total) == (made[2:], 3)
    assert reviews.inbox_page(runner.db, search=marker, limit=2, offset=10) == ([], 3)  # past the end: still the total
    everything = reviews.inbox_count(runner.db)
    assert reviews.inbox_page(runner.db, limit=1)[1] == everything  # no search: counted apart
