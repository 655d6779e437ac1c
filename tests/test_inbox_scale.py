"""The inbox at scale (schema versions 9 and 10): the stored search text, its migration, the trigram indexes, the counts.

On both backends: a database holding reviews from before version 9 gets its search text and counts
backfilled; the maintained counts equal a full COUNT(*) after racing decisions, expiries and
escalations; on PostgreSQL a search is answered through the trigram index.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from hitl_core import reviews, schema
from hitl_core.canonical import iso, utc_now
from hitl_core.errors import HitlError
from hitl_lab.bench import _clone
from tests.helpers import refund_request, unique

LATER = iso(utc_now() + timedelta(days=2))

_V9_OBJECTS = {
    "postgresql": [
        "DROP TRIGGER reviews_search_text ON reviews",
        "DROP TRIGGER reviews_counts_ins ON reviews",
        "DROP TRIGGER reviews_counts_upd ON reviews",
        "DROP TRIGGER reviews_counts_del ON reviews",
        "DROP FUNCTION hitl_review_search_text()",
        "DROP FUNCTION hitl_review_counts()",
        "DROP INDEX reviews_search",
    ],
    "sqlite": [
        "DROP TRIGGER reviews_search_index_upd",  # version 10's, which read the column version 9 added
        "DROP TRIGGER reviews_search_index_del",
        "DROP TABLE review_search",
        "DROP TABLE review_search_rows",
        "DROP TRIGGER reviews_search_text_ins",
        "DROP TRIGGER reviews_search_text_upd",
        "DROP TRIGGER reviews_counts_ins",
        "DROP TRIGGER reviews_counts_upd",
        "DROP TRIGGER reviews_counts_del",
    ],
}


def _groups(runner: Any) -> dict[tuple[str, str, str, str], int]:
    """The full count, grouped as review_counts keeps it."""
    rows = runner.db.read(
        "SELECT status, kind, agent, required_roles AS roles, COUNT(*) AS n FROM reviews "
        "GROUP BY status, kind, agent, required_roles"
    )
    return {(r["status"], r["kind"], r["agent"], r["roles"]): int(r["n"]) for r in rows}


def _maintained(runner: Any) -> dict[tuple[str, str, str, str], int]:
    rows = runner.db.read("SELECT status, kind, agent, roles, n FROM review_counts WHERE n <> 0")
    return {(r["status"], r["kind"], r["agent"], r["roles"]): int(r["n"]) for r in rows}


def _assert_counts_exact(runner: Any) -> None:
    assert _maintained(runner) == _groups(runner)
    for status in ("pending", "approved", "rejected", "expired", "escalated", "decided", "all"):
        for roles in ([], ["support_agent"], ["support_lead"], ["support_agent", "support_lead"]):
            where, params = reviews._filters(status=status, agent=None, action=None, kind="review", roles=roles)
            rows = runner.db.read(
                f"SELECT r.agent, COUNT(*) AS n FROM reviews r WHERE {' AND '.join(where)} GROUP BY r.agent", params
            )
            counted = {r["agent"]: int(r["n"]) for r in rows}
            assert reviews.counts_by_agent(runner.db, status=status, roles=roles) == counted, (status, roles)
            assert reviews.inbox_count(runner.db, status=status, roles=roles) == sum(counted.values())


def test_migration_backfills_search_text_and_counts_of_earlier_reviews(runner):
    made = [refund_request(runner, 30 + i) for i in range(3)]
    ids = [r.reviews[0] for r in made]
    runner.decide(ids[0], "approve", "sam")
    with runner.db.transaction() as tx:  # back to version 8: the reviews are from before version 9
        for statement in _V9_OBJECTS[tx.dialect]:
            tx.execute(statement)
        tx.execute("DROP TABLE review_counts")
        tx.execute("DROP INDEX reviews_deadline")
        tx.execute("ALTER TABLE reviews DROP COLUMN search_text")
        tx.execute("ALTER TABLE threads DROP COLUMN host")  # version 11's
        tx.execute("DELETE FROM hitl_schema WHERE version >= 9")
    assert schema.upgrade(runner.db) == schema.SCHEMA_VERSION == 11
    backfilled = {r["id"]: r["search_text"] for r in runner.db.read("SELECT id, search_text FROM reviews")}
    for review_id in ids:
        row = runner.show(review_id)
        request = reviews.inbox(runner.db, status="all", search=review_id)[0]["request"]
        assert backfilled[review_id].split("\x1f")[0] == review_id.lower()
        assert row["args"]["order_id"].lower() in backfilled[review_id]
        assert backfilled[review_id].endswith(request.lower())
    with runner.db.transaction() as tx:  # what the triggers write for the same rows equals the backfill
        tx.execute("UPDATE reviews SET payload = payload || ''")
    assert {r["id"]: r["search_text"] for r in runner.db.read("SELECT id, search_text FROM reviews")} == backfilled
    _assert_counts_exact(runner)
    order = runner.show(ids[1])["args"]["order_id"]
    assert {r["id"] for r in reviews.inbox(runner.db, search=order.upper())} == {ids[1]}


def test_maintained_counts_equal_a_full_count_after_racing_decisions_expiries_and_escalations(runner):
    made = [refund_request(runner, 20 + i) for i in range(10)]
    ids = [r.reviews[0] for r in made]
    gate = threading.Barrier(4)

    def race(work: list[tuple[str, str, str]]) -> None:
        gate.wait()
        for review_id, decision, who in work:
            with contextlib.suppress(HitlError):  # the loser of a race: already decided, or moved on
                runner.decide(review_id, decision, who)

    def sweep() -> None:
        gate.wait()
        runner.sweep(now=LATER, checkpoint=False)

    plans = [
        [(i, "approve", "sam") for i in ids[0::2]] + [(i, "escalate", "sam") for i in ids[1::2]],
        [(i, "reject", "sue") for i in ids[1::2]] + [(i, "escalate", "sue") for i in ids[0::2]],
        [(i, "escalate", "sue") for i in reversed(ids)],
    ]
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(race, plan) for plan in plans] + [pool.submit(sweep)]
        for future in futures:
            future.result()
    escalated = reviews.inbox(runner.db, roles=["support_lead"], limit=1000)
    for review in escalated[:3]:  # the escalated reviews' decisions move counts of the second tier
        runner.decide(review["id"], "approve", "lee")
    statuses = {runner.show(i)["status"] for i in ids}
    assert statuses - {"pending"}  # the race decided something
    _assert_counts_exact(runner)


def test_extension_that_cannot_be_created_is_a_one_line_error(runner):
    if runner.db.dialect != "postgresql":
        pytest.skip("extensions are PostgreSQL's")
    with runner.db.transaction() as tx:
        with pytest.raises(HitlError) as caught:
            schema._run(tx, "-- postgresql\nCREATE EXTENSION IF NOT EXISTS hitl_no_such_extension")
        assert tx.scalar("SELECT 1") == 1  # the transaction is still usable
    message = str(caught.value)
    assert "\n" not in message and "hitl_no_such_extension" in message


def _searched(runner: Any, search: str) -> tuple[list[str], str, dict[str, Any]]:
    """The ids the inbox finds for `search` (support agents' pending reviews), and its searching query."""
    seen: list[tuple[str, dict[str, Any]]] = []
    read = runner.db.read

    def spy(sql: str, params: Any = None) -> Any:
        seen.append((sql, dict(params or {})))
        return read(sql, params)

    runner.db.read = spy  # type: ignore[method-assign]
    try:
        found = [r["id"] for r in reviews.inbox(runner.db, roles=["support_agent"], search=search, limit=1000)]
    finally:
        runner.db.read = read  # type: ignore[method-assign]
    sql, params = next((s, p) for s, p in seen if "search_text LIKE" in s)
    return found, sql, params


def _inbox_of_clones(runner: Any, amount: float, count: int) -> tuple[Any, int]:
    """`count` pending reviews cloned from a fresh refund's (inbox rows only): that refund, the first clone's number."""
    seed = refund_request(runner, amount)
    template = {"t": seed.thread_id, "c": "", "r": seed.reviews[0]}
    base = int(unique("n").split("-")[1], 16) % 100_000 * 10_000
    _clone(runner.db, template, base, base + count - 1, inbox_only=True)
    return seed, base


def test_search_on_postgresql_goes_through_the_trigram_index(runner, database_url):
    if runner.db.dialect != "postgresql":
        pytest.skip("the trigram index is PostgreSQL's")
    _, base = _inbox_of_clones(runner, 25, 4_000)
    # What autovacuum does in time: new entries leave the GIN index's pending list (the planner prices
    # an unmerged list as a scan of it), and the statistics see the new rows.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE reviews")
        conn.execute("ANALYZE review_roles")
    wanted = f"rv-clone-{base + 1234}"
    found, sql, params = _searched(runner, wanted.upper())
    assert found == [wanted]
    plan = "\n".join(str(next(iter(r.values()))) for r in runner.db.read(f"EXPLAIN {sql}", params))
    assert "reviews_search" in plan, plan


def _search_plan(runner: Any, search: str) -> tuple[list[str], str]:
    """The ids the inbox finds for `search` and SQLite's plan of its query."""
    found, sql, params = _searched(runner, search)
    plan = "\n".join(str(r["detail"]) for r in runner.db.read(f"EXPLAIN QUERY PLAN {sql}", params))
    return found, plan


def _scanned(runner: Any, search: str) -> list[str]:
    """What a plain scan of the stored search text finds (the meaning the index must keep)."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    where, params = reviews._filters(status="pending", agent=None, action=None, kind="review", roles=["support_agent"])
    params["s"] = f"%{escaped}%"
    rows = runner.db.read(
        f"SELECT r.id FROM reviews r WHERE {' AND '.join(where)} AND r.search_text LIKE :s ESCAPE '\\' "
        f"ORDER BY {reviews.SORTS['deadline']}",
        params,
    )
    return [r["id"] for r in rows]


def test_search_on_sqlite_goes_through_a_trigram_index_and_finds_what_a_scan_finds(runner):
    if runner.db.dialect != "sqlite":
        pytest.skip("the FTS5 trigram index is SQLite's")
    seed, base = _inbox_of_clones(runner, 26, 800)
    wanted = f"rv-clone-{base + 234}"
    found, plan = _search_plan(runner, wanted.upper())
    assert found == [wanted] and "review_search" in plan, plan
    # The index narrows; the stored text decides: the same rows as a scan, for every kind of term.
    for term in (wanted, "KETTLE", "ke", f"{base + 12}", "o-", "50%", "a_b", "\\", "ünï", seed.reviews[0][:6]):
        assert _search_plan(runner, term)[0] == _scanned(runner, term), term
    # Kept in step: a changed request is found by its new words only, a deleted review not at all.
    with runner.db.transaction() as tx:
        tx.execute(
            "UPDATE reviews SET payload = json_set(payload, '$.request', 'my teapot cracked'),"
            " args = json_set(args, '$.reason', 'my teapot cracked') WHERE id = :i",
            {"i": wanted},
        )
    assert _search_plan(runner, "teapot")[0] == [wanted]
    assert wanted not in _search_plan(runner, "kettle")[0]
    with runner.db.transaction() as tx:
        tx.execute("DELETE FROM reviews WHERE id = :i", {"i": wanted})
    assert _search_plan(runner, "teapot")[0] == []
