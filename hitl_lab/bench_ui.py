"""`hitl bench --ui`: the review app in a real Chromium at 10,000 pending reviews.

The inbox's queries are timed in process by `hitl_lab.bench`; this measures what a reviewer waits
for in the browser over the same kind of fixture: `streamlit run ui/server.py` (as `hitl ui`
serves it) over a scratch space, driven by Playwright in Debian's Chromium, each step timed from
the click until the page shows its result:

- login_to_first_row: "Log in" clicked in a fresh browser context, until the first inbox row's link shows;
- open_review: an inbox row's "Open" link clicked, until the summary and the decision buttons show;
- approve_to_recorded: "Approve" clicked (the form's submit: the app has no second confirmation step),
  until the page says the review was approved, which it does once `Runner.decide` has returned;
- page_of_100: 100 rows per page chosen in the inbox, until the 100th row's link shows.

The fixture: `repeats` real threads of the benchmark agent (the ones decided), then one more whose
review is cloned (`bench._clone`, the inbox's rows only) up to `pending`. The real ones have the
earliest deadlines, so they lead the inbox's default order. Figures only; nothing here asserts a time.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hitl_core import ledger, reviews
from hitl_core.db import DatabaseURL
from hitl_core.errors import HitlError
from hitl_core.users import add_user
from hitl_lab.bench import (
    AGENT,
    REQUESTER,
    ROLE,
    Sizes,
    _analyze,
    _clone,
    _context,
    _free_port,
    _percentile,
    _runner,
    scratch_database,
)
from hitl_lab.children import stop, wait_until_serving
from hitl_runtime.app_command import app_command

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, as the browser tests use it (`scripts/setup.sh --browser` installs it)."""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
REVIEWER = "bench-reviewer-0"
PASSWORD = "bench-ui-password"

TIMEOUT_MS = 120_000
"""How long one step may take before the benchmark gives up (a failure, not a figure)."""
STEPS = {
    "login_to_first_row": "'Log in' clicked (fresh browser context) until the first inbox row's link shows",
    "open_review": "an inbox row's 'Open' clicked until the summary and the decision buttons show",
    "approve_to_recorded": "'Approve' clicked until the page says the review was approved (decision recorded, run resumed)",
    "page_of_100": "'Per page' 100 chosen in the inbox until the 100th row's link shows",
}


def _figures(times_ms: list[float], pending: int) -> dict[str, Any]:
    return {
        "n": len(times_ms),
        "median_ms": round(_percentile(times_ms, 0.50), 1),
        "p95_ms": round(_percentile(times_ms, 0.95), 1),
        "pending": pending,
    }


# -- the fixture -----------------------------------------------------------------------------------------
def seed(runner: Any, pending: int, decidable: int) -> list[str]:
    """`decidable` real reviews (earliest deadlines first), then clones of one more up to `pending` in all."""
    if pending < decidable + 1:
        raise HitlError(f"benchmark: {pending} pending reviews cannot hold {decidable} to decide and a template")
    real = [
        runner.run(AGENT, f"Please credit {i}", thread_id=f"ui-{i}", user=REQUESTER, context=_context(i)).reviews[0]
        for i in range(decidable)
    ]
    time.sleep(1.1)  # the clones' deadlines vary within the template's second: after every real one's
    template = runner.run(AGENT, "Please credit account 1", user=REQUESTER, context=_context(1))
    latest = runner.snapshot(AGENT, template.thread_id).config["configurable"]["checkpoint_id"]
    _clone(
        runner.db,
        {"t": template.thread_id, "c": latest, "r": template.reviews[0]},
        1,
        pending - decidable - 1,
        inbox_only=True,
    )
    _analyze(runner.db)
    add_user(runner.db, REVIEWER, [ROLE], password=PASSWORD, actor="bench")
    return [str(r) for r in real]


def _pending(runner: Any) -> int:
    return int(reviews.counts_by_agent(runner.db, status="pending", roles=[ROLE]).get(AGENT, 0))


# -- the app ---------------------------------------------------------------------------------------------
@contextmanager
def app_server(url: str) -> Iterator[str]:
    """`streamlit run ui/server.py` over `url` in a child process, the benchmark agent registered; its base URL."""
    port = _free_port()
    env = {**os.environ, "HITL_DATABASE_URL": url, "HITL_AGENTS": "hitl_lab.bench"}
    env.pop("OPENAI_API_KEY", None)
    command = app_command(port, "127.0.0.1", watch_files=False)
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="hitl-bench-ui-") as folder:
        log = Path(folder) / "streamlit.log"
        with log.open("w") as out:
            # This process's working folder, as `hitl ui` would be started: the same audit key as the seeding.
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                if not wait_until_serving(f"{base}/_stcore/health", process, 90):
                    raise HitlError(f"benchmark: the review app did not start: {log.read_text()[-1500:]}")
                yield base
            finally:
                stop(process, timeout=20)


def _timed(action: Callable[[], Any], done: Callable[[], Any]) -> float:
    """Milliseconds from `action` until `done` returns (a Playwright wait)."""
    t0 = time.perf_counter()
    action()
    done()
    return (time.perf_counter() - t0) * 1000


def _login_page(browser: Any, base: str) -> Any:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(base)
    page.get_by_role("textbox", name="User name").fill(REVIEWER)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    return page


def _rows(page: Any) -> Any:
    return page.get_by_role("link", name=re.compile(r"^Open rv-"))


def _choose(page: Any, label: str, option: str) -> None:
    page.get_by_label(label).click()
    page.get_by_role("option", name=option, exact=True).click()


def measure_app(url: str, pending: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Seed `url` (an empty database or scratch space) and time the four steps; the figures and what was decided."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise HitlError(f"benchmark: {CHROMIUM} is missing: install Debian's chromium package")
    runner = _runner(url)
    times: dict[str, list[float]] = {name: [] for name in STEPS}
    at: dict[str, int] = {}
    try:
        t0 = time.perf_counter()
        decidable = seed(runner, pending, repeats)
        seeded_s = round(time.perf_counter() - t0, 1)
        at["login_to_first_row"] = at["page_of_100"] = at["open_review"] = _pending(runner)
        log(f"app: {at['open_review']} pending reviews seeded in {seeded_s} s")
        with app_server(url) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                warm = _login_page(browser, base)  # the first run imports and compiles: not a reviewer's wait
                warm.get_by_role("button", name="Log in").click()
                _rows(warm).first.wait_for()
                warm.context.close()
                for _ in range(repeats):
                    page = _login_page(browser, base)
                    button = page.get_by_role("button", name="Log in")
                    times["login_to_first_row"].append(_timed(button.click, _rows(page).first.wait_for))
                    page.context.close()

                page = _login_page(browser, base)
                page.get_by_role("button", name="Log in").click()
                _rows(page).first.wait_for()
                full = min(100, at["page_of_100"])  # a tiny fixture has fewer rows than a page
                for _ in range(repeats):
                    _choose(page, "Per page", "10")
                    page.get_by_text(re.compile(r"showing 1-10,")).wait_for()
                    times["page_of_100"].append(
                        _timed(lambda: _choose(page, "Per page", "100"), _rows(page).nth(full - 1).wait_for)
                    )
                    page.get_by_text(re.compile(f"showing 1-{full},")).wait_for()

                inbox = page.url.split("?", 1)[0]
                for review_id in decidable:
                    page.goto(inbox)
                    link = page.get_by_role("link", name=f"Open {review_id}")
                    link.wait_for()

                    def opened(page: Any = page) -> None:
                        page.get_by_text("Why it is here").wait_for()
                        page.get_by_role("button", name="Approve", exact=True).wait_for()

                    times["open_review"].append(_timed(link.click, opened))
                    approve = page.get_by_role("button", name="Approve", exact=True)
                    recorded = page.get_by_text(f"review approved by {REVIEWER}").first
                    times["approve_to_recorded"].append(_timed(approve.click, recorded.wait_for))
                page.context.close()
            finally:
                browser.close()
        at["approve_to_recorded"] = at["open_review"]
        statuses = {r: reviews.get(runner.db, r)["status"] for r in decidable}
        credited = sum(
            1
            for e in ledger.list_entries(runner.db)
            if e["name"] == "bench_transfer" and e["thread_id"].startswith("ui-")
        )
        left = _pending(runner)
    finally:
        runner.close()
    if any(s != "approved" for s in statuses.values()) or credited != len(decidable):
        raise HitlError(f"benchmark: the app's decisions were not all recorded: {statuses}, {credited} ledger rows")
    log(f"app: {len(decidable)} reviews approved in Chromium, {left} still pending")
    return {
        "app_timings": {name: _figures(values, at[name]) for name, values in times.items()},
        "app_run": {
            "steps": STEPS,
            "app": "streamlit run ui/server.py (one process, as `hitl ui` serves it) over a scratch space",
            "browser": "Playwright driving Chromium (headless), one browser; each login in a fresh context",
            "fixture": (
                f"{len(decidable)} real threads (the ones decided) and one more whose review is cloned up to "
                f"{pending} pending (the inbox's rows only), seeded in {seeded_s} s"
            ),
            "repeats": repeats,
            "decided": decidable,
            "approved": sum(1 for s in statuses.values() if s == "approved"),
            "ledger_rows": credited,
            "pending_after": left,
        },
    }


def bench_app(url: str, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """The app timings in a scratch space beside `url` (dropped afterwards)."""
    with scratch_database(url, "ui") as scratch:
        out = measure_app(scratch, sizes.ui_pending, sizes.ui_repeats, log)
    out["app_run"]["database"] = DatabaseURL.parse(url).dialect
    return out
