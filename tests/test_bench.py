"""`hitl bench`: the JSON contract of a --smoke run, its correctness checks, and that it leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hitl_lab.bench import FULL, QUICK, SMOKE
from tests.conftest import PG_ADMIN_URL, require_postgres


def test_smoke_bench_on_sqlite(tmp_path: Path) -> None:
    """Every measurement and check of the benchmark at `--smoke` sizes; `--quick` and the full run differ only in sizes."""
    database = tmp_path / "hitl.db"
    env = {**os.environ, "HITL_DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run(
        [sys.executable, "-m", "hitl_cli.main", "bench", "--smoke", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    sizes = SMOKE

    # The headline keys, beside the full figures; those named for sizes a smoke run does not reach are empty.
    assert report["database"] == "sqlite" and report["profile"] == "smoke" and report["quick"] is False
    assert isinstance(report["runner_vs_plain_throughput_ratio"], float)
    assert report["runner_vs_plain_throughput_ratio"] > 0
    assert report["inbox_vs_public_api_speedup_10k"] is None and report["inbox_first_page_ms_100k"] is None
    # The inbox at scale: measured at the profile's size on SQLite and named so.
    scale = report["inbox_scale"]
    assert scale["pending"] == sizes.scale_sqlite == 1_000 and "not 1,000,000 (SQLite)" in scale["note"]
    for name in ("first_page", "counts", "search", "page100"):
        assert report[f"inbox_{name}_ms_1k"] == scale[f"{name}_ms"] > 0

    cycle = report["cycle"]
    assert set(cycle["levels"]) == {str(n) for n in sizes.concurrency}
    for level in cycle["levels"].values():
        for way in ("plain", "plain_exit", "runner"):
            figures = level[way]
            assert figures["threads"] == sizes.cycle_threads
            assert figures["full_cycle_threads_per_s"] > 0
            for phase in ("start_to_pause", "decide_to_complete"):
                assert 0 < figures[phase]["p50_ms"] <= figures[phase]["p99_ms"]
        assert level["ratio"] > 0
    assert cycle["ratio_min"] == report["runner_vs_plain_throughput_ratio"]
    assert report["runner_vs_plain_exit_ratio"] == {w: level["ratio_vs_exit"] for w, level in cycle["levels"].items()}
    assert all(ratio > 0 for ratio in report["runner_vs_plain_exit_ratio"].values())
    # Worker processes, each count with its own cycles/s; those above the machine's cores are marked.
    processes = report["processes"]
    assert set(report["process_scaling"]) == set(processes["levels"]) == {str(n) for n in sizes.processes}
    assert processes["oversubscribed"] == [n for n in sizes.processes if n > processes["cores"]]
    assert processes["levels"]["1"]["per_process_efficiency"] == 1.0
    assert all(rate > 0 for rate in report["process_scaling"].values())

    # Public-API discovery measured up to discovery_max, extrapolated (and saying from what, under which option) above.
    by_size = report["inbox"]["sizes"]
    assert set(by_size) == {str(n) for n in sizes.inbox_sizes}
    assert by_size["100"]["public_api_measured"] and by_size["100"]["speedup"] > 0
    assert not by_size["1000"]["public_api_measured"] and "(--smoke)" in by_size["1000"]["public_api_note"]
    assert all(figures["inbox_search_ms"] > 0 for figures in by_size.values())  # it found the review it looked for

    # No decision lost or doubled, every race refused cleanly, the audit chains intact.
    deciders = report["deciders"]
    assert report["decisions_lost"] == 0 and report["decisions_doubled"] == 0
    assert deciders["errors"] == 0 and deciders["audit_chain_ok"] is True
    for level in deciders["levels"].values():
        assert (
            level["approved"] == level["reviews"] == level["decided"] == level["completed_threads"] == sizes.decide_pool
        )
        assert level["refused_other"] == 0

    # The HTTP API: 16 reviewers over HTTP against `hitl serve`, every review decided once; the inbox at 10,000.
    api = report["api"]
    assert report["api_decisions_per_s"] == api["decide"]["decisions_per_s"] > 0
    assert report["api_vs_in_process_decisions_ratio"] > 0
    assert (
        api["decide"]["approved"] == api["decide"]["decided"] == api["decide"]["completed_threads"] == sizes.decide_pool
    )
    assert api["decide"]["errors"] == [] and api["decide"]["refused_other"] == 0
    assert report["api_inbox_pending"] == api["inbox_at"]["pending"] == sizes.api_pending
    assert 0 < api["inbox_at"]["p50_ms"] <= api["inbox_at"]["p99_ms"] == report["api_inbox_p99_ms"]

    storage = report["storage"]
    assert storage["rows_per_thread"] > 0 and storage["bytes_per_thread"] > 0
    assert {"reviews", "audit_events", "action_ledger"} <= set(storage["tables"])
    assert storage["plain"]["checkpoint_rows_per_thread"] > 0

    # Every review's notification reached the local receiver.
    notify = report["notifications"]
    assert notify["received"] == notify["notifications"] == sizes.notify_threads and notify["lost"] == 0
    assert 0 < report["notification_delivery_p50_ms"] == notify["creation_to_receipt"]["p50_ms"]

    # Everything ran in scratch files that are gone; the configured database was never touched.
    assert [p.name for p in tmp_path.iterdir() if "bench" in p.name] == []
    assert not database.exists()


def test_the_profiles_differ_in_sizes_only_and_the_quick_one_reaches_the_sizes_its_keys_name(tmp_path: Path) -> None:
    from hitl_lab.bench import PROFILES, REVIEWERS

    assert PROFILES == {"full": FULL, "quick": QUICK, "smoke": SMOKE}
    assert QUICK.inbox_sizes == FULL.inbox_sizes == (1_000, 10_000, 100_000)  # the keys _10k and _100k
    assert QUICK.scale_sqlite == 10_000 and FULL.scale_pg == 1_000_000
    for sizes in PROFILES.values():  # the API's ratio to in-process deciders needs REVIEWERS among the deciders
        assert REVIEWERS in sizes.deciders and sizes.decide_pool >= REVIEWERS
        assert sizes.discovery_max in sizes.inbox_sizes
    env = {**os.environ, "HITL_DATABASE_URL": f"sqlite:///{tmp_path}/h.db"}
    both = subprocess.run(
        [sys.executable, "-m", "hitl_cli.main", "bench", "--quick", "--smoke"], env=env, capture_output=True, text=True
    )
    assert both.returncode == 2 and len(both.stderr.strip().splitlines()) == 1 and "--smoke" in both.stderr
    assert not (tmp_path / "h.db").exists()


def test_bench_text_table_and_usage(tmp_path: Path) -> None:
    from hitl_lab.bench import render

    env = {**os.environ, "HITL_DATABASE_URL": f"sqlite:///{tmp_path}/h.db"}
    bad = subprocess.run(
        [sys.executable, "-m", "hitl_cli.main", "bench", "--bogus"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    level = {
        "threads": 1,
        "full_cycle_threads_per_s": 1.0,
        "start_to_pause": {"threads_per_s": 2.0, "p50_ms": 1.0, "p99_ms": 2.0},
        "decide_to_complete": {"threads_per_s": 2.0, "p50_ms": 1.0, "p99_ms": 2.0},
    }
    table_rows = {"threads": {"bytes_per_thread": 1, "rows_per_thread": 1.0}}
    storage: dict[str, Any] = {"bytes_per_thread": 1, "rows_per_thread": 1.0, "checkpoint_bytes_per_thread": 1}
    storage |= {"checkpoint_rows_per_thread": 1.0, "tables": table_rows}
    report = {
        "database": "sqlite",
        "quick": True,
        "elapsed_s": 1.0,
        "runner_vs_plain_throughput_ratio": 1.0,
        "runner_vs_plain_exit_ratio": {"1": 0.5},
        "cycle": {
            "workers": "threads",
            "plain": "plain",
            "plain_exit": "plain, durability exit",
            "levels": {"1": {"plain": level, "plain_exit": level, "runner": level, "ratio": 1.0, "ratio_vs_exit": 0.5}},
        },
        "processes": {
            "workers": "processes",
            "cores": 2,
            "oversubscribed": [4],
            "levels": {
                "1": {
                    "cycles_per_s": 3.0,
                    "per_process_efficiency": 1.0,
                    "cpu_ms_per_cycle": 60.0,
                    "wall_ms_per_cycle_per_process": 300.0,
                }
            },
        },
        "inbox": {
            "fixture": "clones",
            "sizes": {
                "1000": {
                    "inbox_first_page_ms": 1.0,
                    "inbox_first_page_cold_ms": 1.0,
                    "inbox_counts_ms": 1.0,
                    "inbox_search_ms": 7.5,
                    "public_api_ms": 100.0,
                    "public_api_measured": False,
                    "speedup": 100.0,
                }
            },
        },
        "deciders": {
            "deciders": "threads",
            "audit_chain_ok": True,
            "levels": {
                "1": {
                    "reviews": 1,
                    "decisions_per_s": 1.0,
                    "conflicts_refused": 0,
                    "lost": 0,
                    "doubled": 0,
                    "errors": [],
                }
            },
        },
        "storage": {"threads": 1, "measure": "pages", **storage, "plain": storage},
        "inbox_scale": {
            "pending": 1_000_000,
            "fixture": "clones",
            "queries": {"counts": "reviews.counts_by_agent"},
            "counts_ms": 0.4,
            "counts_cold_ms": 0.9,
        },
        "notification_delivery_p50_ms": 4.2,
        "notifications": {
            "channel": "webhook",
            "notifications": 1,
            "lost": 0,
            "creation_to_receipt": {"p50_ms": 4.2, "p99_ms": 5.0},
            "deliver_due_call": {"p50_ms": 3.0, "p99_ms": 4.0},
        },
    }
    text = render(report)
    assert "notification_delivery_p50_ms: 4.2" in text
    assert "runner / plain: 1.0, runner / plain_exit: 0.5" in text and "more processes than cores" in text
    assert "runner / plain: 1.0" in text and "(public API extrapolated)" in text and "audit chains verify: True" in text
    assert "search ms" in text and " 7.5 " in text
    assert "2b. the inbox at 1,000,000 pending" in text and "0.4 ms (cold 0.9 ms)  reviews.counts_by_agent" in text
    assert "review app in Chromium" not in text  # without --ui, no app timings

    # With --ui: the app timings' table after the rest (and alone with --only ui).
    figures = {"n": 3, "median_ms": 812.5, "p95_ms": 990.0, "pending": 10_000}
    app = {
        "app_timings": {"login_to_first_row": figures, "approve_to_recorded": figures},
        "app_run": {"app": "streamlit", "repeats": 3, "approved": 3, "ledger_rows": 3},
    }
    text = render(report | app)
    assert text.index("6. notification delivery") < text.index("7. the review app in Chromium")
    assert ["login_to_first_row", "10000", "3", "812.5", "990.0"] in [line.split() for line in text.splitlines()]
    alone = render({"database": "postgresql", "quick": False, "elapsed_s": 9.0, "only": "ui", **app})
    assert "approve_to_recorded" in alone and "1. full cycle" not in alone and "2b." not in alone


@pytest.mark.postgres
def test_scratch_schema_is_dropped() -> None:
    require_postgres()
    import psycopg

    from hitl_core.db import Database
    from hitl_lab.bench import scratch_database

    with scratch_database(PG_ADMIN_URL, "test") as url:
        db = Database(url)
        with db.transaction() as tx:
            tx.execute("CREATE TABLE probe (x INTEGER)")
            schema = tx.scalar("SELECT current_schema() AS s")
        db.close()
        assert schema.startswith("hitl_bench_test_")
    with psycopg.connect(PG_ADMIN_URL) as conn:
        left = conn.execute("SELECT COUNT(*) FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    assert left == (0,)
