"""What a requester reads about their request (`hitl_runtime.requester`, `nodes.finish`): plain words, no role ids."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from hitl_core import schema
from hitl_core.canonical import iso_in
from hitl_core.db import Database
from hitl_runtime.agents import known_roles
from hitl_runtime.requester import (
    account_words,
    expected_wait,
    open_conversation,
    reviewer_words,
    wait_words,
    waiting_text,
)
from nodes.finish import outcome_of


def test_every_role_reads_as_plain_words():
    for role in known_roles():
        words = reviewer_words([role])
        assert "_" not in words and not re.search(rf"\b{role}\b", words), (role, words)
        assert words.startswith(("a ", "an ", "our ")), words
    assert reviewer_words(["support_lead", "admin"]) == "a senior support specialist"
    assert reviewer_words(["data_steward"]) == "a data steward"
    assert reviewer_words(["ethics-board"]) == "an ethics board"
    assert reviewer_words([]) == "a member of our team"


def test_a_requester_is_named_without_role_ids_and_staff_with_them():
    assert account_words("eve", ["end_user"]) == "eve"
    assert account_words("lee", ["support_lead"]) == "lee (support_lead)"
    assert account_words("sri", ["end_user", "sre"]) == "sri (sre)"


def test_the_usual_wait_is_the_policys_review_deadline():
    assert expected_wait("support", "refund") == "4 hours"  # review_deadline_minutes: 240
    assert expected_wait("support", None) == "4 hours"
    assert [wait_words(m) for m in (1, 30, 60, 240, 60 * 72)] == [
        "1 minute",
        "30 minutes",
        "1 hour",
        "4 hours",
        "3 days",
    ]
    text = waiting_text(
        {"agent": "support", "action": "refund", "required_roles": ["support_lead"], "deadline": iso_in(60)}
    )
    assert text.startswith("A senior support specialist will review your request, usually within 4 hours.")
    assert "support_lead" not in text and "tier" not in text.lower()


@pytest.fixture(scope="module")
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    schema.upgrade(database)
    with database.transaction() as tx:
        for thread_id, agent, status, minutes in [
            ("old-open", "support", "needs_info", 1),
            ("older-open", "support", "pending_review", 0),
            ("ops-open", "ops", "pending_review", 5),
            *[(f"done-{i}", "support", "completed", 10 + i) for i in range(40)],
        ]:
            tx.execute(
                "INSERT INTO threads (thread_id, agent, requester, status, created_at, updated_at) "
                "VALUES (:t, :a, 'rhea', :s, :at, :at)",
                {"t": thread_id, "a": agent, "s": status, "at": iso_in(minutes * 60)},
            )
    yield database
    database.close()


def test_the_open_conversation_is_found_behind_any_number_of_finished_ones(db):
    assert open_conversation(db, "rhea", ["support"]) == "old-open"  # the most recently updated one waiting
    assert open_conversation(db, "rhea", ["support", "ops"]) == "ops-open"
    assert open_conversation(db, "rhea", []) is None
    assert open_conversation(db, "someone-else", ["support"]) is None


def _edited_state(comment: str | None) -> dict:
    return {
        "turn": 1,
        "proposal_start": 0,
        "proposal": {
            "name": "refund",
            "args": {"order_id": "o-1", "amount": 80.0, "currency": "USD"},
            "edited_from": {"order_id": "o-1", "amount": 120.0, "currency": "USD"},
        },
        "decisions": [{"turn": 1, "type": "edit", "effective": "edit", "comment": comment}],
    }


def test_an_edited_amount_is_explained_with_the_reviewers_reason():
    import graphs.support.records  # noqa: F401  (registers the refund action)

    reply = outcome_of(_edited_state("Shipping is not refundable."), "amount")["reply"]
    assert reply.startswith(
        "We refunded 80.00 USD instead of the 120.00 USD requested, because shipping is not refundable. "
    )
    assert "Your refund of 80.00 USD for order o-1 was issued" in reply
    plain = outcome_of(_edited_state(None), "amount")["reply"]
    assert plain.startswith("We refunded 80.00 USD instead of the 120.00 USD requested. ")


def test_a_rejection_says_nothing_was_done_and_why():
    state = {
        "turn": 1,
        "proposal_start": 0,
        "proposal": {"name": "refund", "args": {"amount": 30.0}},
        "decisions": [{"turn": 1, "type": "reject", "effective": "reject", "comment": "Outside the return window."}],
    }
    result = outcome_of(state)
    assert result["outcome"] == "rejected"
    assert result["reply"] == (
        "We reviewed your request and did not carry it out, so nothing has changed. "
        "The reason: outside the return window."
    )
    state["decisions"][0]["comment"] = None
    assert "The reason: it does not meet our policy." in outcome_of(state)["reply"]


PAST_TENSE = {
    ("refund", (("order_id", "o-1"), ("amount", 40.0), ("currency", "USD"))): (
        "Your refund of 40.00 USD for order o-1 was issued to your original payment method; "
        "it appears within 5-7 business days."
    ),
    ("close_ticket", (("ticket_id", "t-9"),)): "Ticket t-9 was closed.",
    ("reopen_ticket", (("ticket_id", "t-9"),)): "Ticket t-9 was reopened; we'll pick it up shortly.",
    ("change_account_status", (("customer_id", "c-1"), ("status", "suspended"))): (
        "Your account status was changed to suspended."
    ),
    ("restart_service", (("service", "payments-api"), ("env", "production"))): (
        "The service payments-api was restarted in production, one replica at a time."
    ),
    ("rollback_deploy", (("service", "payments-api"), ("env", "production"), ("to_version", "1.4.2"))): (
        "The service payments-api was rolled back to 1.4.2 in production."
    ),
    ("deploy", (("service", "payments-api"), ("env", "staging"), ("version", "1.5.0"))): (
        "Version 1.5.0 of payments-api was deployed to staging."
    ),
    ("scale_service", (("service", "payments-api"), ("env", "production"), ("replicas", 6))): (
        "The service payments-api was scaled to 6 replicas in production."
    ),
    (
        "change_access",
        (("principal", "ana"), ("service", "ledger"), ("env", "production"), ("level", "read"), ("duration_hours", 4)),
    ): "ana was granted read access to ledger (production) for 4 hour(s).",
    ("open_incident_bridge", (("incident_id", "inc-7"), ("severity", "sev1"), ("teams", ("payments", "sre")))): (
        "A sev1 bridge for inc-7 was opened and payments, sre were paged."
    ),
    ("flag_violation", (("subject_id", "s-1"), ("summary", "Retention beyond 30 days."))): (
        "The compliance team recorded its finding on s-1: Retention beyond 30 days."
    ),
    ("advise_commitment", (("subject_id", "s-2"), ("position", "do_not_commit"), ("advice", "Offer 14 days."))): (
        "Compliance recorded its position on the commitment: do not commit. Offer 14 days."
    ),
}


def _shipped_actions_with_an_effect() -> set[str]:
    from hitl_core.actions import registered
    from hitl_runtime.agents import agent_policy

    names = {a for agent in ("support", "ops", "compliance") for a in agent_policy(agent).actions}
    return {n for n, spec in registered().items() if n in names and spec.has_effect and spec.draft_arg is None}


@pytest.mark.parametrize(("call", "text"), list(PAST_TENSE.items()), ids=[name for name, _ in PAST_TENSE])
def test_every_action_says_what_was_done_in_the_past_tense(call, text):
    from hitl_runtime.requester import done_text

    name, args = call
    assert done_text(name, {k: list(v) if isinstance(v, tuple) else v for k, v in args}) == text


def test_no_shipped_action_is_left_without_past_tense_words():
    assert _shipped_actions_with_an_effect() == {name for name, _ in PAST_TENSE}
    revoked = {"principal": "ana", "service": "ledger", "env": "production", "operation": "revoke", "level": "read"}
    from hitl_runtime.requester import done_text

    assert (
        done_text("change_access", revoked | {"duration_hours": 1})
        == "ana's access to ledger (production) was revoked."
    )
    assert done_text("reply", {"customer_id": "c-1", "message": "Hi"}) is None  # the reply itself is the answer
