"""Post-model guardrails on a drafted message: promises, legal advice, data leakage, tone, safety.

Each returns a Check with the rule behind it; the policy's routing turns failures into review,
escalation or a block. Drafts are checked again after a reviewer edits them.
"""

from __future__ import annotations

import re

from guardrails.input_checks import screen
from guardrails.routing import Check

_PROMISE = re.compile(
    r"\b(we guarantee|guaranteed|we promise|i promise|always refund|full refund no matter|"
    r"compensat(e|ion) you|free of charge forever|we will never)\b",
    re.IGNORECASE,
)
_LEGAL_ADVICE = re.compile(
    r"\b(you should sue|legally (you|we) (are|must)|you have a (legal )?case|under the law you|"
    r"our legal position is|this is not a breach|you are (legally )?entitled to)\b",
    re.IGNORECASE,
)
_RUDE = re.compile(r"\b(stupid|idiot|your fault|calm down|obviously you|as i already said)\b", re.IGNORECASE)
_UNSAFE = re.compile(r"<\s*script|javascript:|\bon\w+\s*=|\b(rm -rf|drop table)\b", re.IGNORECASE)


def check_draft(text: str) -> list[Check]:
    """All output checks on one draft."""
    leaked = screen(text)
    sensitive_leak = [k for k in ("payment_card", "government_id", "bank_account") if leaked.pii.get(k)]
    return [
        Check(
            "draft_no_unbacked_promise",
            not _PROMISE.search(text),
            "review",
            "Replies promise nothing beyond written policy",
            _first(_PROMISE, text),
        ),
        Check(
            "draft_no_legal_advice",
            not _LEGAL_ADVICE.search(text),
            "review",
            "Support does not give legal advice without review",
            _first(_LEGAL_ADVICE, text),
        ),
        Check(
            "draft_no_data_leak",
            not sensitive_leak,
            "block",
            "Replies never contain card numbers, national ids or bank accounts",
            ", ".join(sensitive_leak),
        ),
        Check("draft_tone", not _RUDE.search(text), "review", "Replies stay courteous", _first(_RUDE, text)),
        Check(
            "draft_safe_content",
            not _UNSAFE.search(text),
            "block",
            "Replies contain no markup, scripts or destructive commands",
            _first(_UNSAFE, text),
        ),
    ]


def _first(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    return match.group(0) if match else ""
