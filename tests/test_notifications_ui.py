"""The app's dead letters: an administrator sees the notifications that failed for good and puts one back."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from hitl_core import outbox, sessions
from hitl_core.canonical import now_iso
from hitl_core.settings import Settings
from hitl_core.users import add_user, get_user
from hitl_runtime import notifications
from hitl_runtime.runner import Runner
from ui import services

APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"


def test_an_admin_sees_dead_letters_on_the_audit_page_and_retries_one(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/ui.db"
    monkeypatch.setenv("HITL_DATABASE_URL", url)
    runner = Runner(Settings(database_url=url))
    add_user(runner.db, "ada", ["admin"])
    add_user(runner.db, "olga", ["compliance_officer"])
    with runner.db.transaction() as tx:
        outbox.enqueue(
            tx,
            event="review_requested",
            review_id="rv-dead-letter",
            thread_id="th-dead-letter",
            agent="support",
            recipients=["role:support_lead"],
            payload={"action": "refund"},
        )
    (row,) = notifications.listing(runner)
    with runner.db.transaction() as tx:
        outbox.mark_failed(tx, row["id"], "json://127.0.0.1/hook: HTTP 500", [], None, now_iso())

    def page(user: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.session_state[services.TOKEN_KEY] = sessions.create(runner.db, get_user(runner.db, user))
        at.run()
        at.switch_page("audit.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    at = page("ada")
    (expander,) = [e for e in at.expander if "Undelivered notifications" in e.label]
    assert expander.label == "Undelivered notifications (1)"
    shown = [t.value for t in at.text]
    assert row["id"] in shown and "review_requested" in shown and "role:support_lead" in shown
    assert any("HTTP 500" in t for t in shown)
    at.button(key=f"notify_retry_{row['id']}").click().run()
    assert not at.exception
    assert notifications.listing(runner)[0]["status"] == "pending"
    assert [e.label for e in at.expander if "Undelivered" in e.label] == ["Undelivered notifications (0)"]

    olga = page("olga")  # the audit page's other readers do not see the outbox
    assert not [e for e in olga.expander if "Undelivered" in e.label]
    runner.close()
