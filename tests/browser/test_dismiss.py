"""Dismissing a review (the `ignore` decision) in a real Chromium: offered only where the policy allows it,
with a reason and a confirmation; the customer's chat says the request was closed, never the reason."""

from __future__ import annotations

from typing import Any

import pytest

from hitl_core import audit, ledger, reviews
from hitl_runtime.requester import DISMISSED_TEXT
from tests.browser.conftest import clipped_buttons, screenshot
from tests.helpers import close_ticket_request, refund_request

pytestmark = pytest.mark.browser

REASON = "Duplicate of the ticket closed by phone this morning"


def _open_review(page: Any, base: str, review_id: str) -> None:
    page.goto(f"{base}/review?id={review_id}")
    page.get_by_role("heading", name="Your decision").wait_for()


def test_a_reviewer_dismisses_a_ticket_review_with_a_reason_and_a_confirmation(app_server, login):
    runner, base = app_server["runner"], app_server["base"]
    refund = refund_request(runner, 25)
    ticket = close_ticket_request(runner)
    (review_id,) = ticket.reviews

    sam = login("sam", landing="Inbox")
    _open_review(sam, base, refund.reviews[0])  # the policy does not let a refund be dismissed: no button
    sam.get_by_role("button", name="Reject").wait_for()
    assert sam.get_by_role("button", name="Dismiss").count() == 0

    _open_review(sam, base, review_id)
    sam.get_by_role("button", name="Dismiss").click()
    sam.get_by_text("Dismiss this review?").wait_for()
    assert reviews.get(runner.db, review_id)["status"] == "pending"  # nothing happens before the confirmation
    sam.get_by_role("button", name="Confirm dismissal").click()
    sam.get_by_text("Write the reason for dismissing").wait_for()
    assert reviews.get(runner.db, review_id)["status"] == "pending"
    sam.get_by_label("Reason for dismissing (not shown to the requester)").fill(REASON)
    screenshot(sam, "dismiss-confirm")
    assert clipped_buttons(sam) == []  # every label whole: "Confirm dismissal", not "Confirm di..."
    sam.get_by_role("button", name="Confirm dismissal").click()
    sam.get_by_text("Dismiss: review dismissed by sam; the thread is now dismissed.").first.wait_for()

    row = reviews.get(runner.db, review_id)
    assert (row["status"], row["decided_by"], row["decision"]["comment"]) == ("dismissed", "sam", REASON)
    assert ledger.list_entries(runner.db, thread_id=ticket.thread_id) == []
    decided = [e for e in audit.thread_history(runner.db, ticket.thread_id) if e["kind"] == "review_decided"]
    assert [(e["data"]["decision"], e["data"]["channel"]) for e in decided] == [("ignore", "app")]

    eve = login("eve", path=f"/chat?thread={ticket.thread_id}")
    eve.get_by_text(DISMISSED_TEXT).wait_for()
    eve.get_by_text("We looked at your request and closed it without taking any action").first.wait_for()
    assert eve.get_by_text("Duplicate of the ticket").count() == 0
    screenshot(eve, "dismiss-chat")
