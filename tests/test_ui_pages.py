"""The Streamlit app's pages, headless (AppTest), on a seeded temporary SQLite database.

Each test logs in by putting a real server-side session token into the tab's session state (the
login page itself is tested too), opens a page through the app's navigation, and drives it by
widget keys and labels. Decisions go through the runtime, so the ledger and the audit log are
checked as well as what the page shows.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from streamlit.testing.v1 import AppTest

from hitl_core import audit, ledger, reviews, sessions, threads
from hitl_core.canonical import iso_in
from hitl_core.offline_model import OfflineChatModel
from hitl_core.settings import Settings
from hitl_core.users import add_user, get_user
from hitl_lab.demo import seed
from hitl_runtime.runner import Runner
from ui import services, web

APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"
DECISION_BUTTONS = ("Approve", "Approve with edits", "Reject", "Request more information", "Escalate")


def plain(text: Any) -> str:
    """Undo `services.md_escape` (the app escapes text it renders through Markdown)."""
    return re.sub(r"\\(.)", r"\1", str(text))


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """A database seeded with the demo data; the app under test uses the same URL."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ui')}/ui.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HITL_DATABASE_URL", url)
        instance = Runner(Settings(database_url=url))
        summary = seed(instance)
        assert summary["problems"] == []
        yield instance
        instance.close()


def app(runner: Runner, user: str | None, page: str | None = None, **query: str) -> AppTest:
    """The app as `user` (None: logged out), switched to `page` with `query` parameters."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    if user is not None:
        at.session_state[services.TOKEN_KEY] = sessions.create(runner.db, get_user(runner.db, user))
    at.run()
    if page is not None:
        at.query_params.update(query)
        at.switch_page(f"{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> list[str]:
    """Everything shown as text, Markdown, captions, alerts and tables, unescaped."""
    out = [t.value for t in at.text] + [c.value for c in at.code]
    out += [plain(e.value) for e in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success]]
    out += [plain(v) for t in at.table for v in t.value.to_numpy().ravel()]
    return out


def shown(at: AppTest, fragment: str) -> bool:
    return any(fragment in t for t in texts(at))


def pending_review(runner: Runner, thread_id: str) -> dict[str, Any]:
    (row,) = [r for r in reviews.for_thread(runner.db, thread_id) if r["status"] == "pending"]
    return row


def refund(runner: Runner, amount: float, user: str = "eve") -> str:
    """A fresh refund request; returns its pending review id."""
    order = f"o-{uuid.uuid4().int % 900000 + 100000}"
    result = runner.run(
        "support",
        f"My kettle arrived broken. Can I get my ${amount:g} back for order {order}?",
        user=user,
        context={
            "customer": {"id": f"c-{uuid.uuid4().hex[:8]}", "name": "Test", "tier": "standard", "lifetime_value": 100},
            "order": {"id": order, "amount": amount, "currency": "USD", "days_since_delivery": 3},
        },
    )
    assert result.status == "pending_review", result
    return result.reviews[0]


# -- login, sessions, roles --------------------------------------------------------------------------
def test_logged_out_sees_only_the_way_to_the_login_form(runner, monkeypatch):
    monkeypatch.setattr(web, "_mounted", [True])  # as served by ui/server.py
    at = app(runner, None)
    assert [t.value for t in at.title] == ["Human-in-the-loop review"]
    assert not at.text_input  # no password in a page: the form is served apart, where a cookie can be set
    (link,) = at.get("link_button")
    assert link.proto.label == "Log in" and link.proto.url == "/login"
    (script,) = at.get("html")
    assert "window.location.replace" in script.proto.body and "document.cookie" not in script.proto.body
    with pytest.raises(ValueError):
        at.switch_page("inbox.py")
    monkeypatch.setattr(web, "_mounted", [])  # `streamlit run ui/app.py`: no form to go to, and it says so
    assert any("hitl ui" in plain(e.value) for e in app(runner, None).error)


@pytest.mark.parametrize(("user", "page"), [("lee", "inbox"), ("eve", "chat"), ("ada", "audit")])
def test_no_page_carries_the_session_token(runner, user, page):
    at = app(runner, user, page)
    token = at.session_state[services.TOKEN_KEY]
    assert sessions.resolve(runner.db, token).name == user
    shown = [e.proto.body for e in at.get("html")] + texts(at)
    assert shown and not any(token in text or "document.cookie" in text for text in shown)


def test_a_review_or_thread_of_another_agent_reads_like_one_that_does_not_exist(runner):
    review_id = refund(runner, 35, user="max")  # not eve: her chat would open on this waiting request
    thread_id = reviews.get(runner.db, review_id)["thread_id"]
    for page, hidden, missing in (("review", review_id, "rv-0000000000000000"), ("thread", thread_id, "th-missing")):
        seen = [plain(e.value).replace(hidden, "ID") for e in app(runner, "sri", page, id=hidden).error]
        made_up = [plain(e.value).replace(missing, "ID") for e in app(runner, "sri", page, id=missing).error]
        assert seen == made_up == [f"unknown {page} 'ID'"]
    assert app(runner, "lee", "review", id=review_id).title  # the reviewer of that agent sees it


def test_logging_out_ends_the_session_in_every_tab(runner):
    first, second = app(runner, "olga", "inbox"), app(runner, "olga", "inbox")
    other_user = app(runner, "lee", "inbox")
    first.sidebar.button(key="logout").click().run()
    assert [t.value for t in first.title] == ["Human-in-the-loop review"]
    second.run()  # the other tab's next refresh
    assert [t.value for t in second.title] == ["Human-in-the-loop review"]
    assert services.TOKEN_KEY not in second.session_state
    other_user.run()
    assert [t.value for t in other_user.title] == ["Inbox"]


@pytest.mark.parametrize(
    ("user", "landing", "allowed", "refused"),
    [
        ("eve", "Chat", ["chat.py"], ["inbox.py", "review.py", "audit.py", "metrics.py"]),
        ("sam", "Inbox", ["inbox.py", "review.py", "thread.py"], ["chat.py", "audit.py", "metrics.py"]),
        ("lee", "Inbox", ["inbox.py", "metrics.py"], ["chat.py", "audit.py"]),
        ("ada", "Inbox", ["inbox.py", "audit.py", "metrics.py"], ["chat.py"]),
    ],
)
def test_each_role_sees_only_its_pages(runner, user, landing, allowed, refused):
    at = app(runner, user)
    assert [t.value for t in at.title] == [landing]
    for page in allowed:
        at.switch_page(page)
    for page in refused:
        with pytest.raises(ValueError):
            at.switch_page(page)


def test_oidc_login_maps_roles_from_a_claim(runner):
    assert services.roles_from_claims({"groups": ["hitl-leads", "x"]}, {"roles_claim": "groups"}) == ["end_user"]
    assert services.roles_from_claims(
        {"groups": "hitl-leads other"}, {"roles_claim": "groups", "role_map": {"hitl-leads": "support_lead"}}
    ) == ["support_lead"]
    assert services.roles_from_claims({"roles": ["sre", "admin", "nope"]}, {}) == ["admin", "sre"]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32}
    at.secrets["hitl_auth"] = {"roles_claim": "groups", "role_map": {"Support Leads": "support_lead"}}
    at.user = {"is_logged_in": True, "email": "lena@example.com", "groups": ["Support Leads"]}
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Inbox"]
    assert get_user(runner.db, "lena@example.com").roles == ("support_lead",)
    logged_out = AppTest.from_file(str(APP), default_timeout=60)
    logged_out.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32}
    logged_out.user = {"is_logged_in": False}
    logged_out.run()
    assert [b.label for b in logged_out.button] == ["Log in with your organisation's account"]
    assert not logged_out.text_input


# -- chat ----------------------------------------------------------------------------------------------
def test_chat_request_waits_for_review_and_says_for_whom(runner):
    at = app(runner, "eve")
    at.chat_input(key="chat_message").set_value("The espresso machine o-1002 leaks. Please refund the $650.").run()
    assert not at.error, [e.value for e in at.error]
    thread_id = at.session_state["chat_thread"]
    assert runner.state(thread_id).status == "pending_review"
    assert any(t == "The espresso machine o-1002 leaks. Please refund the $650." for t in texts(at))
    review = reviews.get(runner.db, runner.state(thread_id).reviews[0])
    assert review["required_roles"] == ["support_lead"]
    # Plain words for the customer: who and how soon, no role ids, tier names or policy limits.
    assert shown(at, "A senior support specialist will review your request, usually within ")
    assert not shown(at, "support_lead") and not shown(at, review["tier_name"])
    assert at.chat_input(key="chat_message").proto.disabled


ROLE_WORDS = re.compile(
    r"support_lead|support_agent|compliance_officer|ops_lead|end_user|\btier\b|up to 1,000|max_amount", re.I
)


def _chat_on(runner: Runner, user: str, thread_id: str) -> AppTest:
    at = app(runner, user)
    at.button(key=f"chat_open:{thread_id}").click().run()
    return at


def test_chat_names_the_reviewer_plainly_and_the_policys_usual_wait(runner):
    review_id = refund(runner, 650)  # above the support agents' limit: a support lead's review
    review = reviews.get(runner.db, review_id)
    assert review["required_roles"] == ["support_lead"]
    with runner.db.transaction() as tx:  # this review's own deadline was moved: the usual wait is still the policy's
        tx.execute("UPDATE reviews SET deadline = :d WHERE id = :i", {"d": iso_in(3 * 86400), "i": review_id})
    at = _chat_on(runner, "eve", review["thread_id"])
    assert shown(at, "A senior support specialist will review your request, usually within 4 hours.")
    assert not [t for t in texts(at) if ROLE_WORDS.search(t)], [t for t in texts(at) if ROLE_WORDS.search(t)]


def test_chat_explains_an_edited_amount_with_the_reviewers_reason(runner):
    review_id = refund(runner, 120)
    review = reviews.get(runner.db, review_id)
    runner.decide(
        review_id,
        "edit",
        "lee",
        args=review["args"] | {"amount": 80.0},
        comment="The order total after the discount was 80.00 USD.",
        category="wrong_amount",
        seen_hash=runner.seen_hash(review_id),
    )
    at = _chat_on(runner, "eve", review["thread_id"])
    assert shown(
        at,
        "We refunded 80.00 USD instead of the 120.00 USD requested, because the order total after the discount "
        "was 80.00 USD.",
    )
    assert not [t for t in texts(at) if ROLE_WORDS.search(t)]


def test_chat_says_in_the_past_tense_what_was_done_once_approved(runner):
    review_id = refund(runner, 40)
    review = reviews.get(runner.db, review_id)
    runner.decide(review_id, "approve", "sam", seen_hash=runner.seen_hash(review_id))
    assert [e["status"] for e in ledger.list_entries(runner.db, thread_id=review["thread_id"])] == ["executed"]
    at = _chat_on(runner, "eve", review["thread_id"])
    done = f"Your refund of 40.00 USD for order {review['args']['order_id']} was issued to your original payment"
    assert [s for s in at.success if done in plain(s.value)], texts(at)


def test_chat_says_plainly_that_a_rejected_request_was_not_done_and_why(runner):
    review_id = refund(runner, 35)
    thread_id = reviews.get(runner.db, review_id)["thread_id"]
    runner.decide(
        review_id,
        "reject",
        "sam",
        comment="The order was already refunded last week.",
        category="other",
        seen_hash=runner.seen_hash(review_id),
    )
    at = _chat_on(runner, "eve", thread_id)
    assert shown(
        at,
        "We reviewed your request and did not carry it out, so nothing has changed. "
        "The reason: the order was already refunded last week.",
    )
    assert not ledger.list_entries(runner.db, thread_id=thread_id)


def test_a_returning_user_lands_on_their_open_conversation_behind_newer_finished_ones(runner):
    add_user(runner.db, "rhea", ["end_user"])
    review_id = refund(runner, 42, user="rhea")
    open_thread = reviews.get(runner.db, review_id)["thread_id"]
    with runner.db.transaction() as tx:  # many finished conversations since then
        for index in range(40):
            tx.execute(
                "INSERT INTO threads (thread_id, agent, requester, status, last_request, created_at, updated_at) "
                "VALUES (:t, 'support', 'rhea', 'completed', 'What are your hours?', :at, :at)",
                {"t": f"rhea-done-{index}", "at": iso_in(60 + index)},
            )
    at = app(runner, "rhea")  # a new tab, straight after logging in: no conversation named in the address
    assert at.session_state["chat_thread"] == open_thread
    assert at.query_params["thread"] == [open_thread] or at.query_params["thread"] == open_thread
    assert shown(at, "will review your request, usually within 4 hours")


def test_chat_agents_per_role_come_from_configuration(runner):
    assert services.chat_agent_roles() == {"end_user": ("support",), "sre": ("ops",)}  # from the policies' chat_roles
    sre = app(runner, "sri", "chat")
    assert [t.value for t in sre.title] == ["Chat"]
    assert shown(sre, "You are talking to the ops assistant.")
    lead = app(runner, "lee")
    with pytest.raises(ValueError):
        lead.switch_page("chat.py")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["hitl_chat"] = {"agents": {"end_user": ["support", "ops"]}}
    at.session_state[services.TOKEN_KEY] = sessions.create(runner.db, get_user(runner.db, "eve"))
    at.run()
    assert at.selectbox(key="chat_agent").options == ["support assistant", "ops assistant"]


def test_chat_keeps_the_open_conversation_when_its_status_changes(runner):
    review_id = refund(runner, 60)
    thread_id = reviews.get(runner.db, review_id)["thread_id"]
    at = app(runner, "eve")
    at.button(key=f"chat_open:{thread_id}").click().run()
    runner.decide(review_id, "request_info", "sam", comment="Which part of the kettle is broken?")
    at.run()  # the auto-refresh
    assert at.session_state["chat_thread"] == thread_id
    at.chat_input(key="chat_message").set_value("The lid hinge snapped.").run()
    assert not at.error, [e.value for e in at.error]
    assert runner.state(thread_id).status == "pending_review"
    assert at.query_params["thread"] == thread_id


def test_chat_shows_the_outcome_once_a_reviewer_decides(runner):
    at = app(runner, "eve")
    result = runner.run(
        "support", "Can I get a refund of the $45 for order o-1001? The kettle arrived broken.", user="eve"
    )
    at.run()  # the conversation list now has it
    at.button(key=f"chat_open:{result.thread_id}").click().run()
    assert shown(at, "will review your request")
    review_id = result.reviews[0]
    runner.decide(review_id, "approve", "sam", seen_hash=runner.seen_hash(review_id))
    at.run()  # what the auto-refresh does every few seconds
    reply = runner.state(result.thread_id).reply
    assert reply and "refund of 45.00" in reply
    assert reply in texts(at)
    assert not shown(at, "will review your request")


def test_chat_answers_the_agents_question(runner):
    at = app(runner, "max")
    at.button(key="chat_open:demo-needs-info-vague").click().run()
    assert shown(at, "We need one more detail")
    question = runner.state("demo-needs-info-vague").question
    assert question in texts(at)
    at.chat_input(key="chat_message").set_value("My Aria espresso machine shows an error light").run()
    assert not at.error, [e.value for e in at.error]
    answered = [r for r in reviews.for_thread(runner.db, "demo-needs-info-vague") if r["kind"] == "question"]
    assert answered[0]["status"] == "answered"


def test_chat_lists_only_the_users_own_conversations(runner):
    at = app(runner, "eve")
    shown_ids = {str(b.key).removeprefix("chat_open:") for b in at.button if str(b.key).startswith("chat_open:")}
    assert "demo-auto-hours" in shown_ids
    assert plain(at.button(key="chat_open:demo-auto-hours").label).startswith("Done: What are your customer")
    assert not shown_ids & {t["thread_id"] for t in threads.for_requester(runner.db, "max", limit=100)}


# -- inbox ---------------------------------------------------------------------------------------------
def _inbox_ids(at: AppTest) -> list[str]:
    return [link.proto.label.removeprefix("Open ") for link in at.get("page_link")]


def test_inbox_shows_what_the_reviewers_roles_can_act_on(runner):
    sam = app(runner, "sam", "inbox")
    ids = _inbox_ids(sam)
    assert ids
    for review_id in ids:
        assert "support_agent" in reviews.get(runner.db, review_id)["required_roles"]
    lead_only = pending_review(runner, "demo-pending-refund-650")["id"]
    assert lead_only not in ids
    assert lead_only in _inbox_ids(app(runner, "lee", "inbox"))
    counts = {m.label: m.value for m in sam.metric}
    assert int(counts["support pending"]) == reviews.counts_by_agent(runner.db, roles=["support_agent"])["support"]
    row = next(plain(m.value) for m in sam.markdown if "risk" in plain(m.value))
    for part in ("risk", "confidence", "asked", " ago"):
        assert part in row


def _inbox_line(at: AppTest, fragment: str) -> str:
    """The one dense row (two lines of Markdown) that mentions `fragment`."""
    (line,) = [plain(m.value) for m in at.markdown if fragment in plain(m.value) and "asked" in plain(m.value)]
    return line


def test_inbox_rows_name_request_target_currency_and_markers(runner):
    sri = app(runner, "sri", "inbox")
    restart = pending_review(runner, "demo-ops-restart")
    line = _inbox_line(sri, "Restart payments-api in production")
    assert "restart_service" in line and "service=payments-api env=prod" in line  # the target, from the policy
    approvals = len(reviews.approvals(runner.db, restart["id"]))
    assert f"{approvals} of 2 approvals" in line
    assert re.search(r"in \d+ (d|h|min|s)\b|overdue by", line)  # the deadline, relative, in the one duration format
    lee = app(runner, "lee", "inbox")
    refund_line = _inbox_line(lee, "order_id=o-7005")
    assert "1450.00 USD" in refund_line and "hugo" in refund_line and "escalated by" not in refund_line
    olga = app(runner, "olga", "inbox")
    escalated = pending_review(runner, "demo-escalated-by-lead")
    first = min(r["created_at"] for r in reviews.for_thread(runner.db, "demo-escalated-by-lead"))
    line = _inbox_line(olga, "stand mixer bundle")
    assert "escalated by lee" in line and "order_id=o-7007" in line
    rows = {r["id"]: r for r in reviews.inbox(runner.db, roles=["compliance_officer"], limit=1000)}
    assert rows[escalated["id"]]["first_requested_at"] == first < escalated["created_at"]  # its age: since the request


def test_inbox_marks_overdue_and_shows_odd_request_text_as_typed(runner):
    review_id = refund(runner, 41)
    with runner.db.transaction() as tx:  # past its deadline, not yet swept
        tx.execute("UPDATE reviews SET deadline = :d WHERE id = :i", {"d": iso_in(-3600), "i": review_id})
    odd = "**bold** <b>x</b> :red[y] 50% `code`"
    other = runner.run(
        "support",
        f"Refund $42, o-424242: {odd}",
        user="eve",
        context={
            "customer": {"id": "c-odd", "name": "Test", "tier": "standard", "lifetime_value": 100},
            "order": {"id": "o-424242", "amount": 42, "currency": "USD", "days_since_delivery": 3},
        },
    )
    at = app(runner, "sam", "inbox")
    at.text_input(key="inbox_search").set_value(review_id).run()
    (raw,) = [m.value for m in at.markdown if "asked" in plain(m.value)]
    assert ":red[**overdue by 1 h" in raw.replace("\\", "")  # marked, in red, in the one duration format
    at.text_input(key="inbox_search").set_value("50% `code`").run()
    assert _inbox_ids(at) == other.reviews
    assert odd in _inbox_line(at, "o-424242")  # escaped: shown as typed, not as markup


def test_inbox_search_counts_and_jumps_to_a_page(runner):
    at = app(runner, "ada", "inbox")
    total = reviews.inbox_count(runner.db, roles=None)
    assert shown(at, f"{total} reviews; showing 1-{min(total, 25)}, page 1 of")
    at.text_input(key="inbox_search").set_value("PAYMENTS-API").run()
    expected = {r["id"] for r in reviews.inbox(runner.db, search="payments-api", limit=1000)}
    assert expected and set(_inbox_ids(at)) == expected
    assert shown(at, f"{len(expected)} matching review")
    at.text_input(key="inbox_search").set_value("nothing-is-called-50%").run()
    assert _inbox_ids(at) == [] and shown(at, "0 matching reviews")
    at.text_input(key="inbox_search").set_value("x" * 5000).run()  # too long: said plainly, nothing breaks
    assert not at.exception and shown(at, "the search text is longer than 200 characters")
    at.text_input(key="inbox_search").set_value("").run()
    at.selectbox(key="inbox_size").set_value(10).run()
    pages = -(-total // 10)
    assert pages >= 2 and shown(at, f"Page 1 of {pages}")
    at.number_input(key="inbox_jump").set_value(2).run()
    second = [r["id"] for r in reviews.inbox(runner.db, limit=10, offset=10)]
    assert _inbox_ids(at) == second and shown(at, f"Page 2 of {pages}")
    for wrong in (pages + 5, 0, -3):
        at.number_input(key="inbox_jump").set_value(wrong).run()
        assert not at.exception
        assert shown(at, f"There is no page {wrong}: choose a page from 1 to {pages}.")
        assert _inbox_ids(at) == second  # the list stays where it was
    at.button(key="inbox_prev").click().run()
    assert shown(at, f"Page 1 of {pages}") and at.number_input(key="inbox_jump").value == 1


def test_inbox_filters_sorts_and_pages(runner):
    at = app(runner, "lee", "inbox")
    at.selectbox(key="inbox_action").set_value("change_account_status").run()
    ids = _inbox_ids(at)
    assert ids and all(reviews.get(runner.db, r)["action"] == "change_account_status" for r in ids)
    at.selectbox(key="inbox_action").set_value("All")
    at.selectbox(key="inbox_sort").set_value("amount")
    at.selectbox(key="inbox_size").set_value(10).run()
    first_page = _inbox_ids(at)
    amounts = [reviews.get(runner.db, r)["amount"] or 0 for r in first_page]
    assert len(first_page) == 10
    assert [a for a in amounts if a] == sorted([a for a in amounts if a], reverse=True)
    assert not at.button(key="inbox_next").proto.disabled
    at.button(key="inbox_next").click().run()
    second_page = _inbox_ids(at)
    assert second_page and not set(second_page) & set(first_page)
    assert not at.button(key="inbox_prev").proto.disabled


def test_inbox_stays_fast_with_10000_pending_reviews(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/load.db"
    monkeypatch.setenv("HITL_DATABASE_URL", url)
    load = Runner(Settings(database_url=url))
    add_user(load.db, "lee", ["support_lead"])
    with load.db.transaction() as tx:
        for i in range(10_000):
            reviews.register(
                tx,
                interrupt_id=f"i-{i}",
                value={
                    "review_id": f"rv-load-{i:05d}",
                    "action_requests": [{"name": "refund", "args": {"order_id": f"o-{i}", "amount": i % 900 + 1}}],
                    "tier": {"index": 0, "name": "Support lead", "roles": ["support_lead"], "approvals": 1},
                    "amount": float(i % 900 + 1),
                    "risk": (i % 100) / 100,
                    "confidence": 0.5,
                    "route": "review",
                    "deadline": iso_in(3600 + i),
                },
                agent="support",
                thread_id=f"th-load-{i}",
                requester="someone",
            )
    started = time.process_time()  # processor time, not wall time: other processes on a shared machine do not count
    at = app(load, "lee", "inbox")
    elapsed = time.process_time() - started
    assert len(_inbox_ids(at)) == 25
    assert {m.label: m.value for m in at.metric}["support pending"] == "10000"
    at.selectbox(key="inbox_sort").set_value("risk").run()
    assert len(_inbox_ids(at)) == 25
    load.close()
    print(f"inbox first render with 10,000 pending reviews: {elapsed:.2f}s")
    assert elapsed < 5, f"inbox took {elapsed:.2f}s with 10,000 pending reviews"


# -- review screen -------------------------------------------------------------------------------------
def test_review_screen_shows_everything_a_reviewer_needs(runner):
    review_id = pending_review(runner, "demo-pending-refund-39")["id"]
    at = app(runner, "sam", "review", id=review_id)
    payload = runner.show(review_id)["interrupt"]
    headers = [plain(h.value) for h in at.subheader]
    for title in (
        "Original request",
        "Proposed action",
        "What happens if approved",
        "Evidence",
        "Tool calls already made",
        "Policy checks",
        "Alternatives",
        "Undo plan",
        "Escalation path",
        "Earlier decisions on this thread",
        "Your decision",
    ):
        assert any(h.startswith(title) for h in headers), title
    assert any(h.startswith("Confidence 0.") for h in headers) and any(h.startswith("Risk 0.") for h in headers)
    assert payload["request"] in texts(at)
    frames = [d.value for d in at.dataframe]
    evidence = next(f for f in frames if "source" in f.columns)
    assert list(evidence["id"]) == [e["id"] for e in payload["evidence"]]
    assert {"source", "score"} <= set(evidence.columns)
    # Signals in static tables: what each reading is based on is read whole (a grid clips it), weights as 0.35.
    tables = [t.value for t in at.table]
    confidence = next(f for f in tables if "weight" in f.columns)
    assert [plain(v) for v in confidence["signal"]] == [s["name"] for s in payload["confidence_signals"]]
    assert [plain(v) for v in confidence["based on"]] == [s["detail"] for s in payload["confidence_signals"]]
    assert all(re.fullmatch(r"\d\.\d\d", plain(w)) for w in confidence["weight"])
    risk = next(f for f in tables if "signal" in f.columns and "weight" not in f.columns)
    assert [plain(v) for v in risk["signal"]] == [s["name"] for s in payload["risk_signals"]]
    assert [plain(v) for v in risk["based on"]] == [s["detail"] for s in payload["risk_signals"]]
    checks = [t.value for t in at.table if "check" in [plain(c) for c in t.value.columns]]
    assert sum(len(c) for c in checks) == len(payload["checks"])  # the failed ones, then the passed ones
    assert shown(at, payload["undo_plan"])
    assert shown(at, "next: Support lead (support_lead)")
    for alternative in payload["alternatives"]:
        assert shown(at, alternative)
    assert shown(at, payload["preview"]["money"])
    assert at.metric[0].label == "Deadline" and at.metric[0].value.startswith("in ")
    assert [b.label for b in at.button if b.label in DECISION_BUTTONS] == list(DECISION_BUTTONS)
    assert {n.label for n in at.number_input} == {"Amount"}


def _summary_text(at: AppTest) -> str:
    return "\n".join(plain(m.value).replace("**", "") for m in at.markdown if "What:" in m.value)


def test_review_summary_says_amount_target_escalation_and_deadline(runner):
    review_id = refund(runner, 22)
    first = reviews.get(runner.db, review_id)
    runner.decide(review_id, "escalate", "sam", comment="Third claim this month on this card")
    escalated = pending_review(runner, first["thread_id"])
    at = app(runner, "lee", "review", id=escalated["id"])
    summary = _summary_text(at)
    order = first["args"]["order_id"]
    assert "Amount: 22.00 USD" in summary
    assert f"order_id={order}" in summary and "For: eve" in summary
    assert f"Escalated by: sam from {first['tier_name']}: “Third claim this month on this card”" in summary
    assert "tier 0" not in summary and "Deadline: in " in summary and " UTC)" in summary
    assert plain(at.title[0].value).startswith(f"refund of 22.00 USD · order_id={order}")


def test_review_summary_counts_approvals_of_a_two_approver_ops_action(runner):
    review_id = pending_review(runner, "demo-ops-restart")["id"]
    assert reviews.get(runner.db, review_id)["approvals_required"] == 2
    add_user(runner.db, "sia", ["sre"])
    assert runner.decide(review_id, "approve", "sia")["status"] == "pending"
    at = app(runner, "sri", "review", id=review_id)
    assert "Approvals: 1 of 2 (by sia)" in _summary_text(at)
    assert f"{review_id}:approve" in [b.key for b in at.button]


def test_failed_checks_come_first_and_passed_ones_are_collapsed(runner):
    review_id = pending_review(runner, "demo-pending-refund-39")["id"]
    checks = runner.show(review_id)["interrupt"]["checks"]
    failed, passed = [c for c in checks if not c["passed"]], [c for c in checks if c["passed"]]
    assert failed and passed
    at = app(runner, "sam", "review", id=review_id)
    tables = [t.value for t in at.table if "check" in [plain(c) for c in t.value.columns]]
    assert [plain(v) for v in tables[0].iloc[:, 0]] == [c["id"] for c in failed]
    (expander,) = [e for e in at.expander if e.label.startswith("Passed checks")]
    assert expander.label == f"Passed checks ({len(passed)})"
    (inside,) = expander.table
    assert [plain(v) for v in inside.value.iloc[:, 0]] == [c["id"] for c in passed]
    assert not any(e.label.startswith("Passed checks") for e in at.expander if e.proto.expanded)


def test_a_refused_edit_is_shown_by_the_buttons_and_keeps_the_inputs(runner):
    review_id = refund(runner, 80)
    at = app(runner, "lee", "review", id=review_id)
    at.number_input(key=f"{review_id}:arg:amount").set_value(250.0)
    at.text_area(key=f"{review_id}:comment").set_value("More than the order")
    at.selectbox(key=f"{review_id}:category").set_value("wrong_amount")
    at.button(key=f"{review_id}:edit").click().run()
    (form,) = at.get("form")
    errors = [plain(e.value) for e in form.error]
    assert any("the edited refund is refused" in e for e in errors), errors
    assert reviews.get(runner.db, review_id)["status"] == "pending"
    assert not ledger.list_entries(runner.db, thread_id=reviews.get(runner.db, review_id)["thread_id"])
    assert at.number_input(key=f"{review_id}:arg:amount").value == 250.0
    assert at.text_area(key=f"{review_id}:comment").value == "More than the order"
    assert at.selectbox(key=f"{review_id}:category").value == "wrong_amount"


def test_next_review_opens_another_pending_review_the_user_may_decide(runner):
    review_id = refund(runner, 23)
    at = app(runner, "sam", "review", id=review_id)
    at.button(key=f"{review_id}:approve").click().run()
    assert reviews.get(runner.db, review_id)["status"] != "pending"
    at.button(key=f"{review_id}:next").click().run()
    assert not at.exception, [e.value for e in at.exception]
    opened = at.query_params["id"]
    opened = opened[0] if isinstance(opened, list) else opened
    assert opened != review_id
    row = reviews.get(runner.db, opened)
    assert row["status"] == "pending" and reviews.decide_refusal(get_user(runner.db, "sam"), row) is None
    assert shown(at, f"Review {opened}")
    assert f"{opened}:approve" in [b.key for b in at.button]


def test_approve_with_edits_from_the_generated_form(runner):
    review_id = refund(runner, 80)
    thread_id = reviews.get(runner.db, review_id)["thread_id"]
    at = app(runner, "lee", "review", id=review_id)
    at.number_input(key=f"{review_id}:arg:amount").set_value(55.0)
    at.text_area(key=f"{review_id}:comment").set_value("Shipping is not refunded")
    at.button(key=f"{review_id}:edit").click().run()
    assert [plain(e.value) for e in at.error] == ["Choose a reason category to approve with edits."]
    assert reviews.get(runner.db, review_id)["status"] == "pending"
    at.selectbox(key=f"{review_id}:category").set_value("wrong_amount")
    at.button(key=f"{review_id}:edit").click().run()
    assert shown(at, "review approved with edits by lee; the thread is now completed")
    assert plain(at.title[0].value).startswith("refund of 55.00 USD as edited")  # what was decided, not proposed
    decided_preview = reviews.get(runner.db, review_id)["decision"]["preview"]
    assert "What the approved edit does" in [plain(h.value) for h in at.subheader]
    assert shown(at, decided_preview["money"]) and "55" in decided_preview["money"]
    (entry,) = [e for e in ledger.list_entries(runner.db, thread_id=thread_id) if e["name"] == "refund"]
    assert entry["args"]["amount"] == 55.0
    decided = next(e for e in audit.thread_history(runner.db, thread_id) if e["kind"] == "review_decided")
    assert decided["data"]["diff"] == {"amount": [80.0, 55.0]}
    assert decided["data"]["category"] == "wrong_amount"
    assert f"{review_id}:approve" not in [b.key for b in at.button]


def test_reject_request_info_and_escalate(runner):
    rejected, asked, escalated = refund(runner, 20), refund(runner, 21), refund(runner, 22)
    at = app(runner, "sam", "review", id=rejected)
    at.selectbox(key=f"{rejected}:category").set_value("suspected_fraud")
    at.text_area(key=f"{rejected}:comment").set_value("Same card as three other claims")
    at.button(key=f"{rejected}:reject").click().run()
    assert reviews.get(runner.db, rejected)["status"] == "rejected"
    at = app(runner, "sam", "review", id=asked)
    at.button(key=f"{asked}:request_info").click().run()
    assert [plain(e.value) for e in at.error] == ["Write the question for the requester in the comment."]
    at.text_area(key=f"{asked}:comment").set_value("Could you send a photo of the damage?")
    at.button(key=f"{asked}:request_info").click().run()
    thread = reviews.get(runner.db, asked)["thread_id"]
    assert runner.state(thread).status == "needs_info"
    at = app(runner, "sam", "review", id=escalated)
    at.button(key=f"{escalated}:escalate").click().run()
    next_tier = pending_review(runner, reviews.get(runner.db, escalated)["thread_id"])
    assert next_tier["tier_name"] == "Support lead"
    assert next_tier["id"] in _inbox_ids(app(runner, "lee", "inbox"))


def test_a_decision_taken_elsewhere_shows_up_on_the_open_page(runner):
    review_id = refund(runner, 31)
    at = app(runner, "sam", "review", id=review_id)
    runner.decide(review_id, "approve", "lee", comment="Fine by me")
    at.run()  # what the status panel's auto-refresh triggers
    assert any("Someone else decided this review while you had it open" in plain(w.value) for w in at.warning)
    assert shown(at, "Fine by me")
    assert f"{review_id}:approve" not in [b.key for b in at.button]


def test_someone_else_deciding_first_is_shown_with_their_decision(runner):
    review_id = refund(runner, 30)
    at = app(runner, "sam", "review", id=review_id)
    runner.decide(review_id, "reject", "lee", comment="Duplicate claim", category="other")
    at.button(key=f"{review_id}:approve").click().run()
    assert any("Someone else got there first" in plain(w.value) and "by lee" in plain(w.value) for w in at.warning)
    assert shown(at, "Duplicate claim")
    assert shown(at, "rejected")
    assert reviews.get(runner.db, review_id)["decided_by"] == "lee"


def test_a_reviewer_without_the_required_role_cannot_decide(runner):
    review_id = pending_review(runner, "demo-pending-refund-650")["id"]
    at = app(runner, "sam", "review", id=review_id)
    assert any("it needs one of support_lead" in plain(i.value) for i in at.info)
    assert f"{review_id}:approve" not in [b.key for b in at.button]


def test_the_runtime_refuses_a_decision_from_a_role_lost_meanwhile(runner):
    add_user(runner.db, "sue", ["support_agent"])
    review_id = refund(runner, 40)
    at = app(runner, "sue", "review", id=review_id)
    assert f"{review_id}:approve" in [b.key for b in at.button]
    add_user(runner.db, "sue", ["sre"])  # an administrator moves sue to operations
    at.button(key=f"{review_id}:approve").click().run()
    assert any("may not decide review" in plain(e.value) for e in at.error)
    assert reviews.get(runner.db, review_id)["status"] == "pending"


def test_html_and_scripts_in_model_and_user_text_are_shown_inert(runner):
    draft = '<b>Hello</b> <a href="https://evil.example/x">click here</a> <iframe src="https://evil.example"></iframe>'
    request = "<script>alert('pwned')</script> Hi! Do you ship to Norway? <img src=x onerror=alert(1)>"

    def responder(messages: list[Any], tools: list[dict[str, Any]]) -> AIMessage:
        call = {"name": "reply", "args": {"customer_id": "c-html", "message": draft}, "id": "call-1"}
        return AIMessage(content="CONFIDENCE: 0.9", tool_calls=[call])

    crafty = Runner(runner.settings, model_factory=lambda agent: OfflineChatModel(responder=responder))
    result = crafty.run(
        "support",
        request,
        user="mallory",
        context={"customer": {"id": "c-html", "name": "<i>Mallory</i>", "tier": "gold", "lifetime_value": 5000}},
    )
    crafty.close()
    assert result.status == "pending_review", result
    at = app(runner, "sam", "review", id=result.reviews[0])
    assert draft in [c.value for c in at.code]
    assert any("<script>alert('pwned')</script>" in t.value for t in at.text)
    for element in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.title]:
        assert not re.search(r"(?<!\\)<(script|a |iframe|img|b>|i>)", element.value), element.value
    for html in at.get("html"):
        assert "evil" not in html.proto.body and "pwned" not in html.proto.body


# -- thread, audit, metrics ---------------------------------------------------------------------------
def test_thread_timeline_and_rollback(runner):
    at = app(runner, "lee", "thread", id="demo-approved-refund")
    timeline = next(t.value for t in at.table if "event" in [plain(c) for c in t.value.columns])
    events = [plain(v) for v in timeline.iloc[:, 2]]
    for kind in ("request_received", "review_requested", "review_decided", "action_executed", "turn_finished"):
        assert kind in events
    assert any(v.startswith("step ") for v in events)  # checkpointed steps
    (entry,) = ledger.list_entries(runner.db, thread_id="demo-approved-refund")
    admin = app(runner, "ada", "thread", id="demo-approved-refund")
    assert f"rollback:{entry['id']}" not in [b.key for b in admin.button]  # admin views, approves nothing
    at.button(key=f"rollback:{entry['id']}").click().run()
    assert ledger.get_entry(runner.db, entry["id"])["status"] == "executed"  # a confirmation first
    at.button(key=f"rollback_confirm:{entry['id']}").click().run()
    assert any("Write the reason" in plain(e.value) for e in at.error)
    at.text_area(key=f"rollback_reason:{entry['id']}").set_value("Refunded twice").run()
    at.button(key=f"rollback_confirm:{entry['id']}").click().run()
    assert any("rolled back by lee" in plain(s.value) for s in at.success)
    assert ledger.get_entry(runner.db, entry["id"])["status"] == "rolled_back"
    (event,) = [e for e in audit.thread_history(runner.db, "demo-approved-refund") if e["kind"] == "action_rolled_back"]
    assert event["data"]["reason"] == "Refunded twice"
    assert "Refunded twice" in str(runner.state("demo-approved-refund").reply)
    assert f"rollback:{entry['id']}" not in [b.key for b in at.button]


@pytest.mark.parametrize("page", ["thread", "review"])
def test_a_rerun_that_loses_the_address_keeps_the_page_on_what_it_shows(runner, page):
    """Streamlit can rerun a page without its query string (seen mid-rollback under load): the page
    must not go blank, and the address is put back."""
    thread_id = "demo-approved-refund"
    (review,) = reviews.for_thread(runner.db, thread_id)
    shown_id = thread_id if page == "thread" else review["id"]
    at = app(runner, "lee", page, id=shown_id)
    at.query_params.clear()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["id"] == shown_id
    if page == "thread":
        assert at.text_input(key="thread_lookup").value == thread_id
        assert "Actions" in [h.value for h in at.subheader]
    else:
        assert not shown(at, "Open a review from the inbox") and shown(at, review["id"])


def test_an_emptied_thread_box_keeps_the_thread_and_a_typed_id_opens_another(runner):
    """The browser side once sent the lookup box back empty right after a rollback: the page went blank
    mid-confirmation. The address decides what is shown; the box only navigates."""
    at = app(runner, "lee", "thread", id="demo-approved-refund")
    at.text_input(key="thread_lookup").set_value("").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["id"] == "demo-approved-refund"
    assert at.text_input(key="thread_lookup").value == "demo-approved-refund"
    assert "Actions" in [h.value for h in at.subheader]
    (other,) = [t for t in ("demo-expired-refund",) if runner.thread(t)]
    at.text_input(key="thread_lookup").set_value(other).run()
    assert at.query_params["id"] == other and at.text_input(key="thread_lookup").value == other


def test_audit_search_and_verify(runner):
    at = app(runner, "olga", "audit")
    at.button(key="audit_verify").click().run()
    assert any(plain(s.value).startswith("Audit chain intact") for s in at.success)
    at.text_input(key="audit_actor").set_value("lee")
    at.selectbox(key="audit_action").set_value("refund")
    search = next(b for b in at.button if b.label == "Search the log")
    search.click().run()
    frame = at.dataframe[0].value
    assert len(frame) > 0 and set(frame["by"]) == {"lee"}
    assert all('"action":"refund"' in d.replace(" ", "") for d in frame["data"])
    at.text_input(key="audit_actor").set_value("")
    at.selectbox(key="audit_action").set_value("Any")
    at.text_input(key="audit_thread").set_value("demo-edited-refund")
    next(b for b in at.button if b.label == "Search the log").click().run()
    frame = at.dataframe[0].value
    assert "review_decided" in set(frame["event"])
    assert any('"diff"' in d and "120" in d for d in frame["data"])


def test_audit_page_reports_a_tampered_chain(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/tampered.db"
    monkeypatch.setenv("HITL_DATABASE_URL", url)
    own = Runner(Settings(database_url=url))
    add_user(own.db, "ada", ["admin"])
    thread_id = own.run("support", "What are your customer support hours?", user="eve").thread_id
    with own.db.transaction() as tx:  # someone edits history behind the runtime's back
        tx.execute("UPDATE audit_events SET actor = 'nobody' WHERE stream = :s AND stream_seq = 1", {"s": thread_id})
    at = app(own, "ada", "audit")
    at.button(key="audit_verify").click().run()
    own.close()
    assert any(
        plain(e.value).startswith("Audit chain broken at event") and thread_id in plain(e.value) for e in at.error
    )


def test_metrics_page_charts_the_seed_metrics(runner):
    at = app(runner, "ada", "metrics")
    assert at.selectbox(key="metrics_agent").options[0] == "All agents"
    labels = [m.label for m in at.metric]
    for label in ("Approval rate", "Edit rate", "Rejection rate", "Escalation rate", "Time to review (median)"):
        assert label in labels
    headers = [plain(h.value) for h in at.subheader]
    for title in (
        "Rates over time",
        "Rates by agent",
        "Rates by action",
        "Time to review",
        "Correction categories (edits and rejections)",
        "Confidence calibration",
    ):
        assert f"{title} (last 24 hours)" in headers  # each section names the window it counts
    assert len(at.get("vega_lite_chart")) == 5  # time to review is a table in readable units
    lead = app(runner, "lee", "metrics")  # a support lead sees the support agent only
    assert lead.selectbox(key="metrics_agent").options == ["support"]
    assert "Rates by action (last 24 hours)" in [plain(h.value) for h in lead.subheader]
    assert len(lead.get("vega_lite_chart")) >= 4


TWO_UNITS = r"\d+ (s|min|h|d)( \d+ (s|min|h))?"  # `40 s`, `4 min 12 s`, `2 h 5 min`, `3 d 4 h`


def test_metrics_show_sample_sizes_readable_times_and_no_empty_rows(runner):
    from hitl_core import metrics

    at = app(runner, "ada", "metrics")
    result = metrics.compute(runner.db)
    values = {m.label: m.value for m in at.metric}
    decided = f"{result['decided']:,}"
    assert values["Approval rate"] == f"{result['approval_rate']:.0%} of {decided}"
    assert values["Rejection rate"].endswith(f" of {decided}")
    assert re.fullmatch(TWO_UNITS, values["Time to review (median)"]), values
    tables = [t.value for t in at.table]
    by_action = next(t for t in tables if "Action" in t.columns)
    shown_actions = [plain(a) for a in by_action["Action"]]
    empty = [a for a, s in result["per_action"].items() if not s["decided"]]
    assert empty, "the demo data has actions without a decided review"  # what would be blank rows
    assert not set(empty) & set(shown_actions)
    assert sorted(shown_actions) == sorted(a for a, s in result["per_action"].items() if s["decided"])
    assert all(int(plain(n).replace(",", "")) > 0 for n in by_action["Decided"])
    times = next(t for t in tables if "Median" in t.columns)
    for cell_text in [*times["Median"], *times["90th percentile"]]:
        assert re.fullmatch(TWO_UNITS, plain(cell_text)), cell_text
    assert not any(plain(t) == "approval_rate" for t in texts(at))
    assert shown(at, "per hour")  # the default window, 24 hours, is charted by the hour
    at.selectbox(key="metrics_window").select("Last 7 days").run()
    assert shown(at, "per day")
    at.selectbox(key="metrics_window").select("Last 90 days").run()
    assert shown(at, "per week")


def test_chat_stores_no_card_number_or_secret(runner):
    from tests.test_masking_at_rest import CARDS, SECRETS, leaks

    at = app(runner, "eve")
    at.button(key="chat_new").click().run()  # eve's seeded conversation may be waiting for a review
    message = f"My kettle o-1001 broke. Refund to card {CARDS['message']}? key {SECRETS['message']}"
    at.chat_input(key="chat_message").set_value(message).run()
    assert not at.error, [e.value for e in at.error]
    thread_id = at.session_state["chat_thread"]
    runner.decide(runner.state(thread_id).reviews[0], "request_info", "sam", comment="Which card did you pay with?")
    assert runner.state(thread_id).status == "needs_info"
    at.run()
    box = at.chat_input(key="chat_message")
    assert not box.disabled, (at.session_state["chat_thread"], thread_id, texts(at))
    at.chat_input(key="chat_message").set_value(f"This one: {CARDS['answer']}").run()
    assert not at.error, [e.value for e in at.error]
    assert runner.state(thread_id).status == "pending_review"
    assert any("[CARD ****1111]" in t for t in texts(at))
    assert leaks(runner) == []


def test_no_page_script_shows_a_stray_string():
    """Streamlit's magic writes any bare module-level string of a page script onto the page (a docstring under a constant did)."""
    import ast

    folder = Path(services.__file__).parent
    scripts = [folder / "app.py", folder / "login.py", folder / "chat.py"] + [
        folder / f"{p}.py" for p in services.PAGES
    ]
    for script in scripts:
        body = ast.parse(script.read_text(encoding="utf-8")).body[1:]  # after the module's own docstring
        stray = [n.lineno for n in body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)]
        assert stray == [], f"{script.name}: bare strings at lines {stray} would be shown on the page"


def test_earlier_decisions_are_read_whole(runner):
    """The previous reviewer's comment is why the review is here: a static table wraps it instead of clipping it."""
    review_id = pending_review(runner, "demo-escalated-by-lead")["id"]
    at = app(runner, "olga", "review", id=review_id)
    (history,) = [t.value for t in at.table if "comment" in [plain(c) for c in t.value.columns]]
    assert [plain(c) for c in history["comment"]] == ["Large refund on a working product: compliance should sign off"]
    assert [plain(c) for c in history["by"]] == ["lee"] and [plain(c) for c in history["decision"]] == ["escalate"]


def test_the_demo_holds_a_dismissed_request_and_its_requester_reads_it(runner):
    """Every decision a reviewer can take is in the demo: a ticket closure dismissed as a duplicate."""
    thread = runner.thread("demo-dismissed-ticket")
    assert thread["status"] == "dismissed"
    (review,) = reviews.for_thread(runner.db, "demo-dismissed-ticket")
    assert (review["status"], review["decided_by"]) == ("dismissed", "sam")
    assert ledger.list_entries(runner.db, thread_id="demo-dismissed-ticket") == []
    at = app(runner, "max")
    at.button(key="chat_open:demo-dismissed-ticket").click().run()
    assert shown(at, "closed it without taking any action") and not shown(at, "Duplicate")
