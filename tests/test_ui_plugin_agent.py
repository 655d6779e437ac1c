"""The app with an agent defined outside the project's folders (HITL_AGENTS), headless (AppTest).

The grants desk of test_plugin_agents.py is written to a temporary folder and registered through
HITL_AGENTS; its reviewer role (`grants_officer`) exists only in its own policy. A grants officer
logs in, finds the review in the inbox, opens the review screen and approves it there; the ledger
has the grant once. A support agent sees neither the review nor the desk.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from hitl_core import ledger, reviews, sessions
from hitl_core.settings import Settings
from hitl_core.users import add_user, get_user
from hitl_runtime import agents
from hitl_runtime.runner import Runner
from tests.test_plugin_agents import AGENT_MODULE, POLICY
from ui import services

APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runner]:
    """A fresh database, the grants desk registered from a folder outside the repository, two reviewers."""
    (tmp_path / "outside_grants_desk_ui.py").write_text(
        textwrap.dedent(AGENT_MODULE).replace("outside_grants", "ui_grants")
    )
    (tmp_path / "grants.yaml").write_text(POLICY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HITL_AGENTS", "outside_grants_desk_ui")
    url = f"sqlite:///{tmp_path}/app.db"
    monkeypatch.setenv("HITL_DATABASE_URL", url)
    # The registry discovers once per process: start it afresh so this test's HITL_AGENTS counts.
    monkeypatch.setattr(agents, "_discovered", False)
    monkeypatch.setattr(agents, "_EXTRA", dict(agents._EXTRA))
    monkeypatch.setattr(agents, "_DISCOVERED", [])
    runner = Runner(Settings(database_url=url))
    add_user(runner.db, "lena", ["grants_officer"], actor="test")
    add_user(runner.db, "sam", ["support_agent"], actor="test")
    yield runner
    runner.close()
    sys.modules.pop("outside_grants_desk_ui", None)


def _app(runner: Runner, user: str, page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state[services.TOKEN_KEY] = sessions.create(runner.db, get_user(runner.db, user))
    at.run()
    at.query_params.update(query)
    at.switch_page(f"{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _inbox_ids(at: AppTest) -> list[str]:
    return [link.proto.label.removeprefix("Open ") for link in at.get("page_link")]


def _texts(at: AppTest) -> str:
    parts: list[Any] = [*at.markdown, *at.caption, *at.subheader, *at.info, *at.warning, *at.success]
    return re.sub(r"\\(.)", r"\1", " ".join(str(p.value) for p in parts))  # undo the app's Markdown escaping


def test_inbox_and_review_screen_work_for_an_outside_agent(desk):
    assert "grants" in agents.available_agents()
    run = desk.run("grants", "Please fund the core team's offsite", user="eve", context={"team": "core", "amount": 800})
    (review_id,) = run.reviews

    inbox = _app(desk, "lena", "inbox")
    assert review_id in _inbox_ids(inbox)
    assert review_id not in _inbox_ids(_app(desk, "sam", "inbox"))  # the desk's role, not a support agent's

    screen = _app(desk, "lena", "review", id=review_id)
    shown = _texts(screen)
    assert "grants agent" in shown and "Proposed action" in shown and "Undo plan" in shown, shown
    screen.button(key=f"{review_id}:approve").click().run()
    assert not screen.exception, [e.value for e in screen.exception]
    assert reviews.get(desk.db, review_id)["status"] == "approved"
    grants = [e for e in ledger.list_entries(desk.db, thread_id=run.thread_id) if e["name"] == "award_grant"]
    assert len(grants) == 1 and grants[0]["args"] == {"team": "core", "amount": 800.0}
