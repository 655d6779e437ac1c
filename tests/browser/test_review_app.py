"""End to end in a real Chromium: chat, inbox, review, edit, approve, escalate, sessions, screenshots.

Each user has their own browser context (their own cookies), as on separate machines. Nothing is
reloaded by hand: the chat and the inbox refresh themselves.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from hitl_core import audit, ledger, reviews, threads
from tests.browser.conftest import ask, screenshot

pytestmark = pytest.mark.browser


def _latest_thread(runner: Any, requester: str) -> str:
    return str(threads.for_requester(runner.db, requester, limit=1)[0]["thread_id"])


def _pending(runner: Any, thread_id: str) -> dict[str, Any]:
    (row,) = [r for r in reviews.for_thread(runner.db, thread_id) if r["status"] == "pending"]
    return row


def _choose(page: Any, label: str, option: str) -> None:
    page.get_by_label(label).click()
    page.get_by_role("option", name=option).click()


def test_refund_edited_by_a_lead_reaches_the_customer(app_server, login, browser):
    runner = app_server["runner"]
    first = browser.new_page(viewport={"width": 1440, "height": 900})
    first.goto(app_server["base"])
    first.get_by_role("button", name="Log in").wait_for()
    screenshot(first, "01-login")
    first.close()

    eve = login("eve", landing="Chat")
    ask(eve, "My kettle arrived broken. Can I get my $45 back for order o-1001?")
    eve.get_by_text("will review your request, usually within").wait_for()
    thread_id = _latest_thread(runner, "eve")
    review = _pending(runner, thread_id)
    assert review["action"] == "refund" and review["amount"] == 45
    screenshot(eve, "02-chat-waiting")

    lee = login("lee", landing="Inbox")
    _choose(lee, "Sort by", "Newest first")
    expect(lee.get_by_role("link", name=re.compile(r"^Open rv-")).first).to_have_attribute(
        "href", f"review?id={review['id']}"
    )
    lee.wait_for_timeout(500)  # let the rerun settle before clicking
    screenshot(lee, "03-inbox")
    lee.get_by_role("link", name=f"Open {review['id']}").first.click()
    lee.get_by_text(f"Review {review['id']}").wait_for()
    lee.get_by_role("heading", name="refund of 45.00").wait_for()
    lee.get_by_role("heading", name="Your decision").wait_for()
    lee.get_by_role("heading", name="Evidence").wait_for()
    screenshot(lee, "04-review", height=3000)

    amount = lee.get_by_role("spinbutton", name="Amount")
    amount.fill("30")
    lee.get_by_label("Comment").fill("The lid is covered by a replacement part; refund the rest")
    _choose(lee, "Reason category (required for edits and rejections)", "wrong amount")
    lee.get_by_role("button", name="Approve with edits").click()
    lee.get_by_text("review approved with edits by lee").first.wait_for()
    screenshot(lee, "05-review-decided")

    # The customer's open chat shows the outcome by itself (no reload).
    eve.get_by_text(
        "We refunded 30.00 USD instead of the 45.00 USD requested, because the lid is covered by a replacement part"
    ).wait_for()
    eve.get_by_text("Your refund of 30.00 USD for order o-1001 was issued").wait_for()
    eve.get_by_placeholder("Write a follow-up").wait_for()
    screenshot(eve, "06-chat-outcome")

    refunds = [e for e in ledger.list_entries(runner.db, thread_id=thread_id) if e["name"] == "refund"]
    assert len(refunds) == 1 and refunds[0]["args"]["amount"] == 30.0
    all_refunds_for_order = [
        e for e in ledger.list_entries(runner.db) if e["name"] == "refund" and e["args"]["order_id"] == "o-1001"
    ]
    assert len(all_refunds_for_order) == 1
    decided = [e for e in audit.thread_history(runner.db, thread_id) if e["kind"] == "review_decided"]
    assert len(decided) == 1
    assert decided[0]["actor"] == "lee" and decided[0]["data"]["diff"] == {"amount": [45.0, 30.0]}

    # The lead sees the edit in the thread's timeline; an auditor finds it in the audit log.
    lee.get_by_role("link", name=f"Thread {thread_id}").click()
    lee.get_by_role("heading", name="Timeline").wait_for()
    lee.get_by_role("cell", name="review_decided").wait_for()
    lee.get_by_role("cell", name=re.compile(r'"diff": \{"amount": \[45\.0, 30\.0\]\}')).wait_for()
    screenshot(lee, "07-thread", height=2200)

    ada = login("ada", landing="Inbox")
    ada.get_by_role("link", name="Audit").click()
    ada.get_by_role("heading", name="Audit log").wait_for()
    ada.get_by_role("button", name="Verify the chain").click()
    ada.get_by_text("Audit chain intact").wait_for()
    ada.get_by_role("textbox", name="Thread id").fill(thread_id)
    ada.get_by_role("button", name="Search the log").click()
    ada.get_by_text(re.compile(r"^\d+ events, newest first$")).wait_for()
    screenshot(ada, "08-audit")
    ada.get_by_role("link", name="Metrics").click()
    ada.get_by_role("heading", name="Rates by agent").wait_for()
    ada.wait_for_timeout(1500)
    screenshot(ada, "09-metrics", height=2600)


def test_without_the_role_no_decision_and_escalation_reaches_the_next_tier(app_server, login):
    runner = app_server["runner"]
    eve = login("eve", landing="Chat")
    ask(eve, "The espresso machine from order o-1002 leaks every time. Please refund the $650.")
    eve.get_by_text("will review your request, usually within").wait_for()
    thread_id = _latest_thread(runner, "eve")
    review = _pending(runner, thread_id)
    assert review["required_roles"] == ["support_lead"]

    olga = login("olga", landing="Inbox")  # the next tier's reviewer, inbox open
    olga.get_by_role("link", name=re.compile(r"^Open rv-")).first.wait_for()

    sam = login("sam", landing="Inbox")
    sam.get_by_role("link", name=re.compile(r"^Open rv-")).first.wait_for()
    assert sam.get_by_role("link", name=f"Open {review['id']}").count() == 0
    # A deep link opened in a new browser: the login form first, then the review it pointed to.
    sam = login("sam", path=f"/review?id={review['id']}")
    notice = sam.get_by_text("You can see this review but not decide it")
    notice.wait_for()
    sam.get_by_text("it needs one of support_lead").wait_for()
    assert sam.get_by_role("button", name="Approve", exact=True).count() == 0
    assert sam.get_by_role("button", name="Escalate").count() == 0
    notice.scroll_into_view_if_needed()
    screenshot(sam, "10-review-without-role")

    lee = login("lee", landing="Inbox")
    lee.goto(f"{app_server['base']}/review?id={review['id']}")
    lee.get_by_role("heading", name="Your decision").wait_for()
    lee.get_by_label("Comment").fill("A refund this size on a possible defect: compliance decides")
    lee.get_by_role("button", name="Escalate").click()
    lee.get_by_text("review escalated by lee").first.wait_for()
    escalated = _pending(runner, thread_id)
    assert escalated["id"] != review["id"]
    assert escalated["tier_name"] == "Trust and compliance"
    assert escalated["required_roles"] == ["compliance_officer"]

    # It appears in the compliance officer's open inbox by itself, and leaves the lead's.
    olga.get_by_role("link", name=f"Open {escalated['id']}").first.wait_for()
    screenshot(olga, "11-escalated-inbox")
    lee.goto(f"{app_server['base']}/inbox")
    lee.get_by_role("heading", name="Inbox").wait_for()
    lee.get_by_role("link", name=re.compile(r"^Open rv-")).first.wait_for()
    assert lee.get_by_role("link", name=f"Open {escalated['id']}").count() == 0
    assert lee.get_by_role("link", name=f"Open {review['id']}").count() == 0
    eve.get_by_text("Our compliance team will review your request").wait_for()


def test_logout_ends_every_tab_and_user_html_stays_text(app_server, login):
    runner = app_server["runner"]
    dialogs: list[str] = []
    tab = login("max", landing="Chat")
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    other = tab.context.new_page()
    other.goto(app_server["base"])
    other.get_by_role("heading", name="Chat").wait_for()  # the second tab is logged in by the cookie
    html = "<b>bold</b> <img src=x onerror=alert(1)> <script>alert(2)</script> What are your support hours?"
    ask(tab, html)
    tab.get_by_text(html, exact=True).wait_for()
    assert tab.locator("img[src='x']").count() == 0
    assert tab.locator("[data-testid=stChatMessage] b").count() == 0
    tab.wait_for_timeout(1500)
    assert dialogs == []
    screenshot(tab, "12-chat-html-inert")

    before = len(threads.for_requester(runner.db, "max", limit=100))
    tab.get_by_role("button", name="Log out").click()
    tab.get_by_role("button", name="Log in").wait_for()
    other.bring_to_front()
    login_button = other.get_by_role("button", name="Log in")
    for _ in range(3):  # a tab that has not redrawn since: its next action finds the session gone
        box = other.get_by_test_id("stChatInputTextArea")
        if login_button.is_visible() or not box.is_visible():
            break
        try:  # the box may be redrawn or disabled while the tab notices the logout by itself
            box.fill("Refund everything on my account please", timeout=5_000)
            box.press("Enter", timeout=5_000)
            login_button.wait_for(timeout=10_000)
        except PlaywrightTimeout:
            continue
    login_button.wait_for()
    assert len(threads.for_requester(runner.db, "max", limit=100)) == before
    other.reload()
    other.get_by_role("button", name="Log in").wait_for()
