"""Masks for what may be stored: payment card numbers and secrets never, and email addresses where asked.

Every way in masks with these before anything is checkpointed, logged or written to a table (PCI
DSS forbids a full card number in clear; a pasted secret is a leak however it is stored), and
every error message masks what it quotes (`errors.HitlError`). They live in the core because the
core's own errors need them; the screening in `guardrails.input_checks` builds on them.

Email addresses are masked in the requester's free text only (the message and answers): the
model, reviewers and the audit already see `[EMAIL]` there. Addresses in business records (a
customer's email in the context, which replies use), in an action's arguments and in staff text
stay.
"""

from __future__ import annotations

import re
from typing import Any

_I = re.IGNORECASE
_DIGIT_RUN = re.compile(r"(?<!\d)\d++(?:[ -]\d++)*+")
"""Groups of digits joined by single spaces or dashes: where a card number may hide, inside a longer run too."""
_DIGIT_GROUP = re.compile(r"\d+")
_SECRET_LABEL = (
    r"pass(?:word|wd|phrase)|pwd|api[_ -]?key|apikey|secret[_ -]?key|client[_ -]?secret|"
    r"access[_ -]?(?:key|token)|auth[_ -]?token|refresh[_ -]?token|private[_ -]?key|token|secret"
)
_SECRET_BY_NAME = re.compile(
    rf"\b({_SECRET_LABEL})(\s*+(?:is\b\s*+:?|:|=>?)\s*+)([\"'`]?)([^\s\"'`]{{6,200}})\3",
    _I,
)
"""A password or key given with its label; after "is" only a value with a digit or a symbol (not "is wrong")."""
_PIN_BY_NAME = re.compile(r"\b(pin(?: code| number)?)(\s*+(?:is\b\s*+:?|:|=)\s*+)(\d{4,8})\b", _I)
_SECRET_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[^-]*+(?:-----END [A-Z ]{0,40}PRIVATE KEY-----)?"
    r"|\b(?:sk|rk)[-_](?=[\w-]{0,80}\d)[A-Za-z0-9_-]{16,200}"  # OpenAI, Anthropic, Stripe secret keys
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{30,200}|github_pat_\w{30,200})"  # GitHub
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,200}"  # Slack
    r"|\bAIza[0-9A-Za-z_-]{35}"  # Google
    r"|\bglpat-[A-Za-z0-9_-]{20,200}"  # GitLab
    r"|\bhitl_[A-Za-z0-9_-]{40,200}"  # this project's API tokens (hitl_core.tokens.PREFIX)
    r"|\beyJ[A-Za-z0-9_-]{8,2000}\.eyJ[A-Za-z0-9_-]{4,4000}\.[A-Za-z0-9_-]{0,2000}"  # JSON web tokens
)
"""Secrets recognisable by their shape alone (published prefixes and formats)."""
_BEARER = re.compile(r"\b(Bearer|Basic)(\s++)(?=[A-Za-z._~+/-]{0,200}\d)([A-Za-z0-9._~+/-]{8,2000}=*)")
_URL_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]{1,20}://[^\s:/@]{1,200}:)([^\s@/]{1,200})(@)", _I)
EMAIL_PATTERN = re.compile(r"\b[\w.+-]++(?P<domain>@[\w-]+(?:\.[\w-]+)+\b)?")
"""An address when `domain` matched; otherwise the match is a run of address characters without one,
consumed whole so that no position inside it is tried again (which made long runs quadratic)."""


def luhn_valid(digits: str) -> bool:
    """The payment-card checksum: it separates card numbers from order ids and phone numbers."""
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_spans(text: str) -> list[tuple[int, int, str]]:
    """Where Luhn-valid card numbers (13-19 digits) are in a text: (start, end, digits), in order.

    Each run of digit groups is searched at group boundaries, longest number first, so a card
    number written next to other numbers ("order 12 4111 1111 1111 1111") is still found.
    """
    spans = []
    for run in _DIGIT_RUN.finditer(text):
        if sum(ch.isdigit() for ch in run.group(0)) < 13:
            continue
        groups = [(g.start(), g.end(), [int(d) for d in g.group(0)]) for g in _DIGIT_GROUP.finditer(run.group(0))]
        i = 0
        while i < len(groups):
            best, length = None, 0
            sums = [0, 0]  # Luhn sums with the doubled digits at even / odd places from the left
            for j in range(i, len(groups)):
                for d in groups[j][2]:
                    doubled = d * 2 - 9 if d > 4 else d * 2
                    sums[0] += doubled if length % 2 == 0 else d
                    sums[1] += d if length % 2 == 0 else doubled
                    length += 1
                if length > 19:
                    break
                if length >= 13 and sums[length % 2] % 10 == 0:  # the rightmost digit is never doubled
                    best = j
            if best is None:
                i += 1
                continue
            digits = "".join(str(d) for g in groups[i : best + 1] for d in g[2])
            if len(set(digits)) > 1:  # one digit repeated (an id of zeros) passes Luhn but is no card
                spans.append((run.start() + groups[i][0], run.start() + groups[best][1], digits))
            i = best + 1
    return spans


def mask_cards(text: str) -> tuple[str, int]:
    """The text with each card number replaced by `[CARD ****<last four>]`, and how many there were."""
    spans = card_spans(text)
    out, last = [], 0
    for start, end, digits in spans:
        out.append(text[last:start])
        out.append(f"[CARD ****{digits[-4:]}]")
        last = end
    out.append(text[last:])
    return "".join(out), len(spans)


def mask_secrets(text: str) -> tuple[str, int]:
    """The text with API keys, tokens, private keys and labelled passwords replaced by `[SECRET]`; and how many."""
    count = 0

    def masked(keep: str) -> str:
        nonlocal count
        count += 1
        return f"{keep}[SECRET]"

    def by_name(match: re.Match[str]) -> str:
        value = match.group(4)
        if value == "[SECRET]" or (
            match.group(2).strip().lower().startswith("is") and not re.search(r"[\d\W_]", value)
        ):
            return match.group(0)
        return masked(match.group(1) + match.group(2))

    text = _SECRET_SHAPES.sub(lambda m: masked(""), text)
    text = _BEARER.sub(lambda m: masked(m.group(1) + m.group(2)), text)
    text = _URL_PASSWORD.sub(lambda m: masked(m.group(1)) + m.group(3), text)
    text = _SECRET_BY_NAME.sub(by_name, text)
    text = _PIN_BY_NAME.sub(lambda m: masked(m.group(1) + m.group(2)), text)
    return text, count


def mask_emails(text: str, keep_domains: tuple[str, ...] = ()) -> tuple[str, int]:
    """The text with email addresses replaced by `[EMAIL]` (except at `keep_domains`); and how many."""
    count = 0

    def mask(match: re.Match[str]) -> str:
        nonlocal count
        if match.group("domain") is None:  # a run of address characters, not an address
            return match.group(0)
        domain = match.group("domain")[1:].lower()
        if any(domain == d or domain.endswith("." + d) for d in keep_domains):
            return match.group(0)
        count += 1
        return "[EMAIL]"

    return EMAIL_PATTERN.sub(mask, text), count


PLACEHOLDERS = {
    "payment_card": re.compile(r"\[CARD \*{4}\d{4}\]"),
    "secret": re.compile(r"\[SECRET\]"),
    "email": re.compile(r"\[EMAIL\]"),
}
"""What masking leaves in a text in place of each kind of value it masks."""
_IN_WORDS = {"payment_card": "a card", "secret": "a key", "email": "an email address"}


def placeholders_as_words(text: str) -> str:
    """A masked text with its placeholders said in plain words ("a card", "an email address", "a key").

    What reads a request's meaning (the intent classifier) has never seen `[CARD ****1111]`; left in,
    such a token pulled "I paid with card [CARD ****1111]" towards getting into someone else's account.
    """
    for kind, pattern in PLACEHOLDERS.items():
        text = pattern.sub(_IN_WORDS[kind], text)
    return text


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
