"""No card number or secret at rest: every way in masks them before anything is checkpointed or stored.

A request, its context records, an answer to a clarifying question, a reviewer's edit and notes each
carry a different (Luhn-valid) test card number and a secret. Afterwards a dump of the whole database
(every table, every row, checkpoint blobs decoded with LangGraph's serde, and the raw bytes too; on
SQLite also the database files themselves) holds none of them, in any spelling.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hitl_core import ledger
from hitl_core.errors import BadInput
from hitl_core.masking import luhn_valid
from tests.helpers import refund_request, unique

CARDS = {
    "message": "4111 1111 1111 1111",
    "context": "5555-5555-5555-4444",
    "answer": "4012888888881881",
    "edit": "3782 822463 10005",
    "comment": "6011 1111 1111 1117",
    "rollback": "4000 0566 5566 5556",
}
SECRETS = {
    "message": "sk-proj-Q9x7Vb2Lm4Nc8Kd1Zt6Rw3Yp",
    "context": "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "answer": "Hunter2024!xyz",
    "edit": "AKIAIOSFODNN7EXAMPLE",
    "comment": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJldmUifQ.c2lnbmF0dXJlX29mX3Rva2Vu",
}
MESSAGE_EMAIL = "ana.requester@example.com"
RECORD_EMAIL = "eve.customer@example.com"


def _digits_pattern(card: str) -> str:
    """The card's digits with any spaces or dashes between them (and none)."""
    return r"[ -]?".join(re.sub(r"\D", "", card))


LEAK = re.compile("|".join([*(_digits_pattern(c) for c in CARDS.values()), *map(re.escape, SECRETS.values())]))
LEAK_BYTES = re.compile(LEAK.pattern.encode())


def _tables(runner: Any) -> list[str]:
    if runner.db.dialect == "sqlite":
        rows = runner.db.read("SELECT name FROM sqlite_master WHERE type = 'table'")
        return [r["name"] for r in rows]
    rows = runner.db.read("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return [r["table_name"] for r in rows]


def _decoded(serde: Any, kind: Any, blob: bytes) -> str:
    """A checkpoint blob as text: through LangGraph's serde when it can read it, else msgpack/JSON guesses."""
    attempts = [str(kind)] if isinstance(kind, str) and kind else []
    attempts += ["msgpack", "json"]
    for attempt in attempts:
        try:
            return json.dumps(serde.loads_typed((attempt, blob)), default=repr)
        except Exception:  # not this encoding: try the next
            continue
    return blob.decode("utf-8", "replace")


def dump(runner: Any) -> tuple[str, list[bytes]]:
    """Every row of every table as text (blobs decoded), and every binary cell's raw bytes."""
    serde = runner.checkpointer.serde
    text: list[str] = []
    raw: list[bytes] = []
    for table in _tables(runner):
        for row in runner.db.read(f'SELECT * FROM "{table}"'):
            kind = row.get("type")
            for column, value in row.items():
                if isinstance(value, memoryview):
                    value = value.tobytes()
                if isinstance(value, bytes):
                    raw.append(value)
                    text.append(f"{table}.{column}: {_decoded(serde, kind, value)}")
                else:
                    text.append(f"{table}.{column}: {json.dumps(value, default=repr)}")
    if runner.db.dialect == "sqlite":
        for suffix in ("", "-wal", "-journal"):
            path = Path(runner.db.target + suffix)
            if path.exists():
                raw.append(path.read_bytes())
    return "\n".join(text), raw


def leaks(runner: Any) -> list[str]:
    """Every clear card number or secret found at rest, with where (for the failure message)."""
    text, raw = dump(runner)
    found = [line[:160] for line in text.splitlines() if LEAK.search(line)]
    found += [f"raw bytes: {m.group(0)!r}" for blob in raw for m in LEAK_BYTES.finditer(blob)]
    return found


def test_the_test_cards_are_card_numbers():
    assert all(luhn_valid(re.sub(r"\D", "", card)) for card in CARDS.values())


def test_no_card_number_or_secret_at_rest_after_every_way_in(runner):
    order = "o-" + unique("")[1:]
    context = {
        "customer": {
            "id": unique("c"),
            "name": f"Eve Example (card {CARDS['context']})",
            "tier": "standard",
            "lifetime_value": 150,
            "email": RECORD_EMAIL,
        },
        "order": {"id": order, "item": f"Kettle, key {SECRETS['context']}", "amount": 40, "days_since_delivery": 3},
        "note": [f"card on file {CARDS['context']}", {"token": SECRETS["context"]}],
    }
    message = (
        f"My kettle arrived broken. Can I get my $40 back for order {order}? I paid with card {CARDS['message']}, "
        f"write me at {MESSAGE_EMAIL}. My api key is {SECRETS['message']}"
    )
    first = runner.run("support", message, user="eve", context=context, thread_id=unique("th"))
    assert first.status == "pending_review", first
    shown = runner.show(first.reviews[0])
    # The agent still knows a card number was there: regulated data goes to a human.
    failed = {c["id"] for c in shown["interrupt"]["checks"] if not c["passed"]}
    assert "request_regulated_data" in failed

    asked = runner.decide(
        first.reviews[0], "request-info", "sam", comment=f"Which card? Not {CARDS['comment']} ({SECRETS['comment']})?"
    )
    assert asked["thread"]["status"] == "needs_info"
    answered = runner.reply(first.thread_id, f"It was {CARDS['answer']}, password: {SECRETS['answer']}", user="eve")
    assert answered.status == "pending_review", answered

    edited = runner.decide(
        answered.reviews[0],
        "edit",
        "sam",
        args={"reason": f"broken on arrival, paid by {CARDS['edit']} key {SECRETS['edit']}", "amount": 35},
        comment=f"partial refund; card {CARDS['comment']}",
        category="wrong_amount",
    )
    assert edited["status"] == "approved_with_edits"
    (refund,) = [e for e in ledger.list_entries(runner.db, thread_id=first.thread_id) if e["name"] == "refund"]
    assert refund["args"]["amount"] == 35
    runner.rollback(refund["id"], "lee", reason=f"customer disputes {CARDS['rollback']}")

    assert leaks(runner) == []
    text, _ = dump(runner)
    # The customer's email stays in the business record it belongs to; the one typed into the chat does not.
    assert RECORD_EMAIL in text
    assert MESSAGE_EMAIL not in text


def test_errors_about_a_bad_value_never_echo_a_card_or_secret(runner):
    order = "o-" + unique("")[1:]
    context = {"order": {"id": order, "amount": CARDS["context"]}}
    with pytest.raises(BadInput) as bad_context:
        runner.run("support", "Refund please", user="eve", context=context, thread_id=unique("th"))
    pending = refund_request(runner, 45)
    with pytest.raises(BadInput) as bad_args:
        runner.decide(pending.reviews[0], "edit", "sam", args={"amount": SECRETS["message"]})
    for error in (bad_context.value, bad_args.value):
        assert not LEAK.search(str(error)), str(error)
    assert leaks(runner) == []


def test_a_secret_shaped_record_stays_plain_data_and_a_masked_request_still_screens(runner):
    shaped = {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}
    result = runner.run(
        "support",
        f"My card {CARDS['message']} was charged twice, write to {MESSAGE_EMAIL}",
        user="eve",
        context={"customer": {"id": unique("c"), "name": "Eve"}, "extra": shaped},
        thread_id=unique("th"),
    )
    state = runner.snapshot("support", result.thread_id).values
    assert state["context"]["extra"] == shaped
    assert state["facts"]["guard"]["pii"] == {"payment_card": 1, "email": 1}
    assert state["facts"]["guard"]["regulated"] == ["payment_card"]
    assert leaks(runner) == []


def test_a_card_number_as_a_thread_id_is_refused(runner):
    with pytest.raises(BadInput, match="card number or a secret") as refused:
        runner.run("support", "Where is my order?", user="eve", thread_id=CARDS["context"])
    assert not LEAK.search(str(refused.value))
    assert leaks(runner) == []
