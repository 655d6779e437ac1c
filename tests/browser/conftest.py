"""Real-browser fixtures: the app served by `streamlit run ui/server.py` on a free port, driven by Debian's Chromium.

The app runs in its own process (as `hitl ui` starts it: the pages, the login form, the security
headers) against a temporary SQLite database seeded with the demo data;
the tests read the same database to check the ledger and the audit log. Without
`/usr/bin/chromium` the tests skip, except under `CI=true`, where they fail.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hitl_lab.children import wait_until_serving
from hitl_runtime.app_command import app_command
from tests.helpers import free_port, stop

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "artifacts" / "screenshots"
DOCS = REPO / "docs" / "screenshots"
REFRESH_SCREENSHOTS = "HITL_REFRESH_SCREENSHOTS"
"""Set to 1 to write the screenshots into docs/screenshots/ (the README's); otherwise they go to a temporary folder."""
PASSWORD = "hitl-demo"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The system Chromium, or a skip (a failure under CI=true)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package (scripts/setup.sh --browser)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    """Extra environment for the module's app server (a test module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
def app_server(
    chromium: Path, tmp_path_factory: pytest.TempPathFactory, app_env: dict[str, str]
) -> Iterator[dict[str, Any]]:
    """`streamlit run ui/server.py` on a free port over a freshly seeded database."""
    from hitl_core.settings import Settings
    from hitl_lab.demo import seed
    from hitl_runtime.runner import Runner

    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder}/app.db"
    runner = Runner(Settings(database_url=url))
    assert seed(runner)["problems"] == []
    port = free_port()
    env = {**os.environ, "HITL_DATABASE_URL": url, "HITL_UI_REFRESH_SECONDS": "1", **app_env}
    env.pop("OPENAI_API_KEY", None)
    log = (folder / "streamlit.log").open("w")
    process = subprocess.Popen(
        app_command(port, "127.0.0.1", watch_files=False),
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_serving(f"{base}/_stcore/health", process, 60):
            pytest.fail(f"streamlit did not start: {(folder / 'streamlit.log').read_text()[-2000:]}")
        yield {"base": base, "port": port, "runner": runner, "log": folder / "streamlit.log"}
    finally:
        stop(process, timeout=10)
        log.close()
        runner.close()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    """One Chromium for the module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's outcome on the test item (for screenshots of failures)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def login(browser: Any, app_server: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """`login(name, landing, path)`: a fresh browser context (its own cookies) logged in as `name` at `path`.

    The page at `path` sends a logged-out tab to the login form, which brings it back there.

    When the test fails, every page it opened is saved as artifacts/screenshots/failed-*.png.
    """
    contexts: list[Any] = []
    addresses: list[tuple[Any, list[str]]] = []  # each page and the addresses it went through, for failures

    def open_as(name: str, landing: str | None = None, path: str = "") -> Any:
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.set_default_timeout(45_000)  # generous: CI machines are often busy
        contexts.append(context)
        page = context.new_page()
        visited: list[str] = []
        page.on("framenavigated", lambda frame: visited.append(frame.url) if frame is page.main_frame else None)
        page.on("websocket", lambda ws: visited.append(f"websocket {ws.url}"))
        addresses.append((page, visited))
        page.goto(app_server["base"] + path)
        page.get_by_role("textbox", name="User name").fill(name)
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        if landing:
            page.get_by_role("heading", name=landing).wait_for()
        return page

    yield open_as
    report = getattr(request.node, "report_call", None)
    for index, context in enumerate(contexts):
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for number, page in enumerate(context.pages):
                page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}-{index}-{number}.png"))
                trail = next((v for p, v in addresses if p is page), [])
                (ARTIFACTS / f"failed-{request.node.name}-{index}-{number}.txt").write_text(
                    "\n".join([*trail, f"now {page.url}"]) + "\n"
                )
        context.close()


_screenshot_folder: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _screenshots_go_to_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where `screenshot` writes: a session temporary folder unless HITL_REFRESH_SCREENSHOTS=1."""
    if os.environ.get(REFRESH_SCREENSHOTS) == "1":
        _screenshot_folder[:] = [DOCS]
    else:
        _screenshot_folder[:] = [tmp_path_factory.mktemp("screenshots")]


def screenshot(page: Any, name: str, height: int | None = None) -> Path:
    """Save `name.png` in a temporary folder, or in docs/screenshots/ with HITL_REFRESH_SCREENSHOTS=1.

    The test command never rewrites the committed screenshots; refreshing them is a deliberate step.
    """
    (folder,) = _screenshot_folder
    folder.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    if height:
        page.set_viewport_size({"width": size["width"], "height": height})
    page.wait_for_timeout(700)
    page.locator("[data-testid=stSkeleton]").first.wait_for(state="detached")
    target = folder / f"{name}.png"
    page.screenshot(path=str(target))
    if height:
        page.set_viewport_size(size)
    return target


def ask(page: Any, message: str) -> None:
    """Type into the chat box and send; once more if the first keystrokes met a redraw."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_test_id("stChatInputTextArea")
    for attempt in range(2):
        box.fill(message)
        box.press("Enter")
        try:
            page.get_by_test_id("stChatMessage").filter(has_text=message).first.wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:
            if attempt:
                raise


def clipped_buttons(page: Any) -> list[str]:
    """The visible buttons whose label is cut off (its text wider than the box that shows it)."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('button')]
                .filter((b) => b.offsetParent !== null)
                .filter((b) => [b, ...b.querySelectorAll('*')].some((e) => e.scrollWidth > e.clientWidth + 1))
                .map((b) => b.innerText.trim())"""
        )
    )
