"""What may be stored: card numbers and secrets never, the requester's email addresses not in the conversation.

Every way in (a request and its context records, an answer to a question, a reviewer's decision,
arguments and notes, a rollback reason) passes through here before anything is checkpointed,
logged or written to a table. PCI DSS forbids storing a full card number in clear, and nothing
in this project needs one (refunds go to the order's original payment method); a secret pasted
into a chat is a leak however it is stored. Both are masked in every value, structured or not.

Email addresses are masked in the requester's free text only (the message and answers): the
model, reviewers and the audit already see `[EMAIL]` there, so the clear address served nobody.
Addresses in business records (a customer's email in the context, which the abuse check and
replies use), in an action's arguments and in staff text (a reviewer's note may give the address
to write to) stay. The detectors are those of `guardrails.input_checks` (one way to find each thing).
"""

from __future__ import annotations

from typing import Any

from guardrails.input_checks import card_spans, mask_cards, mask_emails, mask_secrets


def mask_text(text: str, *, emails: bool = False) -> str:
    """A text as it may be stored: card numbers and secrets masked (and email addresses, if asked)."""
    masked, _ = mask_secrets(text)
    masked, _ = mask_cards(masked)
    if emails:
        masked, _ = mask_emails(masked)
    return masked


def mask_value(value: Any, *, emails: bool = False) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with every string masked by `mask_text`.

    Keys are masked too, and so is an integer that is a card number (it becomes the masked string).
    Anything else is returned as it is: a dict shaped like a LangChain secret stays plain data.
    """
    if isinstance(value, str):
        return mask_text(value, emails=emails)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        digits = str(abs(value))
        spans = card_spans(digits)
        return mask_cards(digits)[0] if spans and spans[0][:2] == (0, len(digits)) else value
    if isinstance(value, dict):
        return {mask_value(k, emails=emails): mask_value(v, emails=emails) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v, emails=emails) for v in value]
    return value
