"""Pre-model guardrails: prompt injection and personal or regulated data, with redaction.

They run on everything that reaches a model or a log: the requester's message and every
retrieved document, ticket, log line or tool output (injected instructions hide there too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from guardrails.routing import Check

_INJECTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "ignore_instructions",
            r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(instructions?|rules|prompts?|guidelines|polic(y|ies))\b",
        ),
        ("role_override", r"\byou are (now|no longer)\b|\bact as (an? )?(admin|administrator|system|developer|root)\b"),
        ("privileged_mode", r"\b(admin|developer|god|debug|jailbreak|dan|sudo) mode\b"),
        ("system_prompt", r"\b(system|hidden|original) prompt\b|\breveal (your|the) (instructions|prompt)\b"),
        (
            "fake_authority",
            r"\b(as (your|the) (administrator|developer|owner)|this is an? (authorized|official) (override|instruction))\b",
        ),
        ("tool_coercion", r"\b(call|invoke|execute|run) the [\w_]+ (tool|function) (now|immediately|without)\b"),
        (
            "grant_access",
            r"\b(grant|give) (me |us )?(full |root |admin(istrator)? )(access|rights|privileges)\b[^.\n]{0,40}\b(ignore|without|bypass|no approval)\b",
        ),
        (
            "bypass_approval",
            r"\b(bypass|skip|without|no need for)\b[^.\n]{0,20}\b(approval|review|verification|human)\b",
        ),
    )
)

_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<![\w-])(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")
_HEALTH = re.compile(
    r"\b(diagnos(is|ed)|diabetes|cancer|hiv|prescription|medical record|pregnan(t|cy)|therapy|"
    r"depression|disability|blood type|medication)\b",
    re.IGNORECASE,
)


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


@dataclass
class Screening:
    """What the input screen found in one text, and the text with personal data masked."""

    redacted: str
    injection: list[str] = field(default_factory=list)
    pii: dict[str, int] = field(default_factory=dict)

    @property
    def regulated(self) -> list[str]:
        """Categories that count as regulated data (escalation material)."""
        return [k for k in ("payment_card", "government_id", "health", "bank_account") if self.pii.get(k)]


def detect_injection(text: str) -> list[str]:
    """Names of the injection patterns found in the text."""
    return [name for name, pattern in _INJECTION_PATTERNS if pattern.search(text)]


def screen(text: str) -> Screening:
    """Find injection attempts and personal data; mask the data."""
    found: dict[str, int] = {}

    def mask_card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found["payment_card"] = found.get("payment_card", 0) + 1
            return f"[CARD ****{digits[-4:]}]"
        return match.group(0)

    redacted = _CARD.sub(mask_card, text)
    for kind, pattern, label in (
        ("government_id", _SSN, "[NATIONAL ID]"),
        ("bank_account", _IBAN, "[BANK ACCOUNT]"),
        ("email", _EMAIL, "[EMAIL]"),
        ("phone", _PHONE, "[PHONE]"),
    ):
        redacted, count = pattern.subn(label, redacted)
        if count:
            found[kind] = found.get(kind, 0) + count
    health = len(_HEALTH.findall(text))
    if health:
        found["health"] = health
    return Screening(redacted=redacted, injection=detect_injection(text), pii=found)


def input_checks(screening: Screening, channel: str = "request") -> list[Check]:
    """The screen's findings as checks for the review request (outcomes come from the policy)."""
    checks = [
        Check(
            f"{channel}_injection",
            not screening.injection,
            "block",
            "Instructions addressed to the agent inside data are never followed",
            ", ".join(screening.injection),
        ),
        Check(
            f"{channel}_regulated_data",
            not screening.regulated,
            "review",
            "Regulated data (card numbers, national ids, health, bank accounts) is redacted and needs a human",
            ", ".join(screening.regulated),
        ),
    ]
    return checks
