"""Post-model guardrails on a drafted message: faithfulness, promises, legal advice, data leakage, tone, safety.

Each returns a Check with the rule behind it; the policy's routing turns failures into a revision,
review, escalation or a block. Drafts are checked again after a reviewer edits them.

Faithfulness is checked against what the agent retrieved: every factual sentence of the draft
(not greetings or courtesy) must be covered by the evidence (its content words, and every number
it states), otherwise it is reported as an unsupported claim.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from guardrails.input_checks import detect_injection, redact
from guardrails.routing import Check
from hitl_core.retrieval import tokens

_PROMISE = re.compile(
    r"\b(we guarantee|guaranteed|we promise|i promise|always refund|full refund no matter|"
    r"compensat(e|ion) you|free of charge forever|we will never|100% (sure|certain|guaranteed)|"
    r"(you will|you'll) definitely (get|receive)|for life|lifetime (refund|replacement)s?|"
    r"(refund|replace|compensate) (you )?(in full )?(immediately|instantly|today) no questions asked)\b",
    re.IGNORECASE,
)
_LEGAL_ADVICE = re.compile(
    r"\b(you should sue|legally (you|we) (are|must)|you have a (legal |strong )?case|under the law you|"
    r"our legal position is|this is not a breach|you are (legally )?entitled to|(take|bring) (us|them|this) to court|"
    r"(file|start|bring) a (lawsuit|claim|complaint) against|(this|that) (is|constitutes) (a )?(breach|violation) of|"
    r"(my|our) legal advice|you (do not|don't) need a lawyer|you (will|would) win)\b",
    re.IGNORECASE,
)
_RUDE = re.compile(
    r"\b(stupid|idiot|dumb|your fault|calm down|obviously you|as i already said|as i said before|"
    r"read the manual|not our problem|you should have known|deal with it|stop complaining)\b|!{2,}",
    re.IGNORECASE,
)
_UNSAFE = re.compile(
    r"<\s*script|javascript:|\bon\w+\s*=|\b(rm -rf|drop table|truncate table|format c:)\b|"
    r"\b(kill yourself|kys|go die|i will (hurt|kill|find) you|how to (make|build) a (bomb|weapon))\b",
    re.IGNORECASE,
)
_ACRONYMS = frozenset({"NORTHWIND", "USD", "EUR", "GBP", "GDPR", "CCPA", "FAQ", "HTTP", "HTTPS", "PDF", "ASAP"})
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_COURTESY = re.compile(
    r"^(hi|hello|hey|dear|thanks|thank you|sorry|i'?m sorry|we'?re sorry|apologies|happy to help|glad|"
    r"let (me|us) know|kind regards|best regards|regards|have a (great|nice|good)|please (let|reach|contact|write)|"
    r"i want to make sure|i'?ve asked|i'?m checking|we'?ll be in touch|thanks for)\b",
    re.IGNORECASE,
)
_CITATION = re.compile(r"\((from|see|source:)[^)]{0,400}\)|\[[^\]]{1,40}\]", re.IGNORECASE)
"""A citation in parentheses is at most 400 characters: unbounded, every unclosed `(see` scanned the
rest of the draft (quadratic in the number of them)."""
SUPPORT_THRESHOLD = 0.75
"""Share of a sentence's content words that must appear in one evidence passage for it to count as supported."""


@dataclass(frozen=True)
class Claim:
    """One factual sentence of a draft and how well the evidence covers it."""

    text: str
    coverage: float
    unsupported_numbers: list[str]
    source: str | None

    @property
    def supported(self) -> bool:
        """Covered enough, and every number it states is in the evidence or the case's facts."""
        return self.coverage >= SUPPORT_THRESHOLD and not self.unsupported_numbers

    def as_dict(self) -> dict[str, Any]:
        """Plain form for reports."""
        return {
            "text": self.text,
            "coverage": round(self.coverage, 3),
            "unsupported_numbers": self.unsupported_numbers,
            "source": self.source,
            "supported": self.supported,
        }


def _numbers(text: str, *, scaled: bool = False) -> set[str]:
    """Numbers stated in a text, normalised (45.00 -> 45); `scaled` adds x100 (a fraction as a percentage)."""
    out = set()
    for raw in _NUMBER.findall(text):
        value = raw.replace(",", "")
        try:
            number = float(value)
        except ValueError:
            continue
        out.add(f"{number:g}")
        if scaled:
            out.add(f"{round(number * 100, 6):g}")
    return out


def evidence_passages(evidence: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(source id, sentence) pairs from retrieved items: title, snippet and the full record's text."""
    passages: list[tuple[str, str]] = []
    for item in evidence:
        record = item.get("record")
        body = " ".join(
            str(x)
            for x in (
                item.get("title"),
                item.get("snippet") or item.get("text"),
                json.dumps(record, default=str) if isinstance(record, dict) else "",
            )
            if x
        )
        passages += [(str(item.get("id", "")), s) for s in _SENTENCE.split(body) if s.strip()]
    return passages


def claims(draft: str) -> list[str]:
    """The draft's factual sentences: courtesy, greetings and citations are not claims."""
    out = []
    for sentence in _SENTENCE.split(_CITATION.sub("", draft)):
        sentence = sentence.strip(" ;")
        if not sentence or _COURTESY.match(sentence):
            continue
        # "Hi Ana, thanks for reaching out." and "Hi Ana, I'm sorry about X." open many drafts.
        if re.match(r"^(hi|hello|dear)\s+\w+,\s*(thanks|thank you|i'?m sorry|sorry)\b", sentence, re.IGNORECASE):
            continue
        if len(tokens(sentence)) >= 3:
            out.append(sentence)
    return out


def faithfulness(draft: str, evidence: Iterable[dict[str, Any]], known: Iterable[str] = ()) -> list[Claim]:
    """Each claim of the draft with its best-covering passage.

    A claim is covered by one passage at a time: a retrieved source's sentence, or one of the
    `known` texts the draft may restate (the request, the case's records, the action's arguments
    and its own confirmation). Numbers must appear somewhere in those.
    """
    known = [k for k in known if k]
    passages = evidence_passages(evidence) + [("case", s) for k in known for s in _SENTENCE.split(k) if s.strip()]
    tokenized = [(source, set(tokens(text))) for source, text in passages]
    allowed_numbers = set().union(*(_numbers(text, scaled=True) for _, text in passages))
    result = []
    for sentence in claims(draft):
        sentence_numbers = _numbers(sentence)
        words = {w for w in tokens(sentence) if not w.isdigit()}
        best, best_source = (1.0, None) if not words else (0.0, None)
        for source, passage in tokenized if words else []:
            covered = len(words & passage) / len(words)
            if covered > best:
                best, best_source = covered, source
        missing = sorted(sentence_numbers - allowed_numbers)
        result.append(Claim(sentence, best, missing, best_source))
    return result


def action_statements(name: str, args: dict[str, Any], preview: dict[str, Any] | None = None) -> list[str]:
    """What the system itself states about an action's effect (its preview and confirmation): a draft may repeat it."""
    from hitl_core.actions import get_action

    shown = {k: v for k, v in (preview or {}).items() if k != "message"}  # not the draft itself
    texts = [json.dumps(shown, default=str)]
    try:
        spec = get_action(name)
    except Exception:  # an unknown action states nothing
        return texts
    if spec.confirm is not None:
        with contextlib.suppress(Exception):  # a template that cannot render these arguments adds nothing
            texts.append(spec.confirm(args))
    return texts


def known_texts(
    request: str | None,
    facts: dict[str, Any] | None,
    args: dict[str, Any] | None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> list[str]:
    """The case's own texts a draft may restate: the request, its records, the tool results, the arguments."""
    known = [request or ""]
    if tool_calls:
        known.append(json.dumps(tool_calls, default=str))
    if facts:
        # The validator's own readings (lessons applied, intents found) are not records of the case.
        known.append(json.dumps({k: v for k, v in facts.items() if k not in ("lessons", "intent")}, default=str))
    if args:
        known.append(json.dumps({k: v for k, v in args.items() if k != "message"}, default=str))
    return [k for k in known if k]


_CREDENTIAL_REQUEST = re.compile(
    r"\b(?:send|reply|respond|provide|give|share|confirm|enter|type|tell|email|text|include|verify)\b"
    r"[^.?!\n]{0,80}?"
    r"\b(?:card numbers?|credit card|debit card|cvv2?|cvc|security code|pin(?: code| number)?|passwords?|"
    r"passcodes?|one[- ]time (?:code|password)|otp|full (?:ssn|social security number)|bank login)\b",
    re.IGNORECASE,
)
"""A draft asking for payment credentials or secrets: bounded gap between verb and object, so linear time."""
_NEGATED = re.compile(r"\b(?:never|not|don't|dont|do not|won't|will not|no one|nobody)\b", re.IGNORECASE)


def asks_for_credentials(text: str) -> str:
    """The first sentence that asks for a credential (advice such as "never share your PIN" is not asking)."""
    for match in _CREDENTIAL_REQUEST.finditer(text):
        floor = max(0, match.start() - 200)  # a sentence's negation is near its request: bounded, so linear
        start = max(floor, *(text.rfind(mark, floor, match.start()) + 1 for mark in ".?!\n"))
        if not _NEGATED.search(text, start, match.end()):
            return match.group(0)
    return ""


def check_draft(
    text: str,
    evidence: list[dict[str, Any]] | None = None,
    *,
    request: str | None = None,
    facts: dict[str, Any] | None = None,
    args: dict[str, Any] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    known: list[str] | None = None,
) -> list[Check]:
    """All output checks on one draft; with `evidence`, faithfulness and personal-data leakage too.

    Faithfulness is reported with the outcome `info` (shown to the reviewer, routing nothing)
    unless the agent's policy gives it an outcome in `guardrail_outcomes`. `known` are further
    texts a draft may restate, such as the action's own confirmation of its effect.
    """
    checks = _content_checks(text)
    if evidence is not None:
        known = known_texts(request, facts, args, tool_calls) + [k for k in (known or []) if k]
        checks += _grounding_checks(text, evidence, known)
    return checks


def _rudeness(text: str) -> str:
    """What makes a draft discourteous: a rude phrase, or at least three shouted words making up 30% of its words."""
    words = re.findall(r"\b[A-Za-z]{4,}\b", text)
    shouting = [w for w in words if w.isupper() and w not in _ACRONYMS]
    return _first(_RUDE, text) or (
        ", ".join(shouting[:3]) if len(shouting) >= 3 and len(shouting) >= 0.3 * len(words) else ""
    )


def _content_checks(text: str) -> list[Check]:
    """Checks on the draft's own words, needing no sources: promises, advice, leaks, tone, safety, hijacking."""
    _, leaked = redact(text)
    sensitive_leak = [k for k in ("payment_card", "government_id", "bank_account") if leaked.get(k)]
    rude = _rudeness(text)
    injected = detect_injection(text)
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
        Check("draft_tone", not rude, "review", "Replies stay courteous (no insults, blame or shouting)", rude),
        Check(
            "draft_safe_content",
            not _UNSAFE.search(text),
            "block",
            "Replies contain no markup, scripts, destructive commands, threats or self-harm content",
            _first(_UNSAFE, text),
        ),
        Check(
            "draft_no_credential_request",
            not asks_for_credentials(text),
            "block",
            "Replies never ask a customer for card numbers, security codes, PINs or passwords (that is phishing)",
            asks_for_credentials(text),
        ),
        Check(
            "draft_no_injected_instructions",
            not injected,
            "block",
            "A reply that repeats injected instructions or the agent's own prompt means the model was hijacked",
            ", ".join(injected),
        ),
    ]


def _grounding_checks(text: str, evidence: list[dict[str, Any]], known: list[str]) -> list[Check]:
    """Checks against what the agent knows: every statement backed, no contact details from elsewhere."""
    unsupported = [c for c in faithfulness(text, evidence, known) if not c.supported]
    checks = [
        Check(
            "draft_supported_by_evidence",
            not unsupported,
            "info",
            "Every factual statement in a reply is backed by the retrieved sources (no unsupported claims)",
            "; ".join(
                f"{c.text[:100]!r} (coverage {c.coverage:.2f}"
                + (f", numbers {', '.join(c.unsupported_numbers)} not in the sources" if c.unsupported_numbers else "")
                + ")"
                for c in unsupported
            ),
        )
    ]
    allowed = " ".join([*known, *(t for _, t in evidence_passages(evidence))])
    foreign = _foreign_contacts(text, allowed)
    checks.append(
        Check(
            "draft_no_personal_data",
            not foreign,
            "review",
            "Replies disclose no email address or phone number that is not the customer's own or in the sources",
            ", ".join(foreign),
        )
    )
    return checks


_CONTACT = re.compile(
    r"\b[\w.+-]{1,64}+@[\w-]+(?:\.[\w-]+)+\b|(?<![\w-])(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b"
)
"""Email addresses (a local part of at most 64 characters, RFC 5321's limit: unbounded, every position
of a long run of address characters rescanned it) and phone numbers."""


def _foreign_contacts(text: str, allowed: str) -> list[str]:
    """Email addresses and phone numbers in the draft that appear nowhere in what the agent was given."""
    known = {re.sub(r"\W", "", m.lower()) for m in _CONTACT.findall(allowed)}
    return [m for m in _CONTACT.findall(text) if re.sub(r"\W", "", m.lower()) not in known]


def _first(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    return match.group(0) if match else ""
