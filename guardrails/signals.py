"""Signals read from a request's text: anger, legal threats, exception requests, sensitive topics.

They are deliberately lexical and explainable: each returns what it matched, which is what the
reviewer sees next to the score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ANGER = re.compile(
    r"\b(angry|furious|ridiculous|unacceptable|outrageous|worst|terrible|awful|scam|fed up|"
    r"disgust(ed|ing)|useless|incompetent|third time|fourth time|again and again|nobody (has )?(answered|replied)|"
    r"still (waiting|no)|last chance|or else|today or)\b|!{2,}",
    re.IGNORECASE,
)
_LEGAL_THREAT = re.compile(
    r"\b(lawyer|attorney|solicitor|sue|suing|lawsuit|court|legal action|small claims|"
    r"consumer protection|report you to)\b",
    re.IGNORECASE,
)
_EXCEPTION = re.compile(
    r"\b(make an exception|an exception|past the (return )?window|outside (the|your) "
    r"(return )?(window|policy)|just this once|bend the rules)\b",
    re.IGNORECASE,
)
_CONCESSION = re.compile(
    r"\b(even though|even if|despite|regardless|anyway|as a (favou?r|goodwill gesture)|goodwill|waive|"
    r"i know|i reali[sz]e|i understand|i'm aware|i get that|this (time|once))\b",
    re.IGNORECASE,
)
"""Words granting that a rule stands while asking past it: what makes a request on an order inside the window an exception."""
_TIME_SAID = re.compile(r"\bafter\s+(\d{1,4})\s+(day|week|month)s?\b", re.IGNORECASE)
"""A time the request says something happened after ("it broke after 5 days", "return it after 6 weeks")."""
_DAYS_PER = {"day": 1, "week": 7, "month": 30}
_AS_BEFORE = r"(?:like|as|same as|the way)"
_LAST_FEW = r"(?:last|past|previous) (?:few|couple|several)(?: of)?(?: times| ones)?"
_REPEATED_LOSSES = re.compile(
    rf"\b{_AS_BEFORE} (?:you did|you've done|you have done|you refunded) (?:with |for )?(?:all )?(?:the |those |my )?"
    rf"(?:others|other (?:times|ones)|{_LAST_FEW})\b"
    rf"|\b{_AS_BEFORE} (?:all )?(?:the (?:other times|{_LAST_FEW})|every time)\b"
    r"|\byou refunded (?:those|them|the others|the (?:last|other) (?:ones|few|couple|times?))\b"
    r"|(?<!on the )(?<!by the )(?<!since the )(?<!until the )(?<!from the )"  # "on the 5th this month" is a date
    r"\b(?:\d*(?:3rd|[4-9]th|1\dth)|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)(?: (?!times?\b)\w+)? "
    r"(?:this|in the last|in a) (?:week|month|year)\b"
    r"|\b(?:that's|thats|that is|it's|its|makes|now) (?:like |about |maybe )?(?:[3-9]|1\d|three|four|five|six|seven|eight|nine|ten) "
    r"(?:this|in the last|in a) (?:week|month|year)\b",
    re.IGNORECASE,
)
"""Earlier losses or refunds told as many ("refund it like you did the others", "the 5th this year",
"five this month"): what the records would show as possible abuse, told by the customer. "The third
time this week" is left out: it counts contacts as often as losses (`repeat_contact` reads those)."""
_TOPICS: dict[str, re.Pattern[str]] = {
    "billing": re.compile(
        r"\b(charged|charging|billing|billed|invoice|double|twice|subscription fee|payment|"
        r"chargeback|dispute|overcharged|statement|card was|declined|refused payment)\b"
        # a charge, but not a fee that comes with an order ("customs charges", "delivery charges")
        r"|(?<!customs )(?<!delivery )(?<!shipping )(?<!import )(?<!restocking )(?<!extra )\bcharges?\b",
        re.IGNORECASE,
    ),
    "legal": re.compile(
        r"\b(legal|law|contract|terms of service|liabilit|warranty claim|lawyer|court)\w*", re.IGNORECASE
    ),
    "privacy": re.compile(r"\b(gdpr|ccpa|privacy|personal data|delete my data|my data|data request)\b", re.IGNORECASE),
    "security": re.compile(
        r"\b(hacked|phishing|fraud|unauthori[sz]ed|compromised|scam email|suspicious|"
        # what is stolen is the account or the card, not a parcel from a doorstep
        r"(card|account|identity|password|details|login) (was |were |got |been )*stolen|"
        r"stolen (card|account|identity|password|details|login)|stole (my|the|our) (card|account|identity|password|details|login)|"
        r"(got|get|broke) into my account|did(n'?t| not) (place|make|order)|not me|someone (else )?"
        r"(used|accessed|logged|ordered|changed)|through a link|click(ed)? (a|the|this) link|pay a fee|"
        r"(really|actually) from (you|northwind)|is (this|that|it) (email |message )?(real|legit\w*|genuine))\b",
        re.IGNORECASE,
    ),
}
_PRICE_ASKED = re.compile(
    r"\b(?:is there|will there be|would there be)(?: a| any)?(?: extra)? charges? for\b(?!\s*[$€£\d])"
    r"|\b(?:does|do|will|would) (?:it|you|the site|they) charge (?:me )?in "
    r"(?:pounds|euros?|dollars|sterling|gbp|eur|usd|local currency)\b",
    re.IGNORECASE,
)
"""The price of a service asked ("is there a charge for that?") or the currency a site charges in: no money of
the customer's in question, so no billing topic, unlike "is there a charge for $45 on my card?"."""
SENSITIVE_TOPICS = ("billing", "legal", "privacy", "security")
_MONEY = re.compile(
    r"[$€£]\s?(?P<symbol>\d[\d,]*(?:\.\d{1,2})?)"
    r"|\b(?P<number>\d[\d,]*+)(?:(?P<cents>\.\d{1,2})?\s?(?P<unit>dollars|usd|eur|euros)\b)?",
    re.IGNORECASE,
)
"""An amount after a currency sign, or before a currency word (`unit`). A number without one is
matched too, whole, and skipped: each run of digits and commas is read once (it was quadratic)."""


@dataclass(frozen=True)
class TextSignals:
    """What a request's wording says about risk."""

    anger: float
    anger_terms: list[str]
    legal_threat: bool
    exception_request: bool
    concedes_a_rule: bool
    repeated_losses: bool
    """The customer tells of earlier losses or refunds again and again (`_REPEATED_LOSSES`)."""
    days_said: list[int]
    """Times the request says something happened after ("after 6 weeks": 42), in days."""
    topics: list[str]
    amounts: list[float]

    def asks_an_exception(self, window_days: int) -> bool:
        """An exception named in words, or a time said past the window ("after 6 weeks"; "after 5 days" is none)."""
        return self.exception_request or any(days > window_days for days in self.days_said)

    @property
    def sensitive_topic(self) -> bool:
        """Billing, legal, privacy or security: topics where a wrong answer costs."""
        return any(t in SENSITIVE_TOPICS for t in self.topics)


def money_amounts(text: str) -> list[float]:
    """Amounts of money mentioned, in order ($45, 2,300 dollars, €19.99)."""
    out = []
    for match in _MONEY.finditer(text):
        if match.group("symbol") is None and match.group("unit") is None:
            continue  # a number that is not an amount
        raw = (match.group("symbol") or match.group("number") + (match.group("cents") or "")).replace(",", "")
        try:
            out.append(float(raw))
        except ValueError:
            continue
    return out


def read_text(text: str) -> TextSignals:
    """All text signals for one request."""
    unpriced = _PRICE_ASKED.sub(" ", text)  # a price asked names no money of the customer's
    anger_terms = [m.group(0).lower() for m in _ANGER.finditer(text)]
    shouting = sum(
        1 for w in re.findall(r"\b[A-Z]{4,}\b", text) if w not in {"NORTHWIND", "USD", "EUR", "GDPR", "CCPA"}
    )
    anger = min(1.0, 0.35 * len(anger_terms) + 0.2 * shouting)
    return TextSignals(
        anger=anger,
        anger_terms=anger_terms,
        legal_threat=bool(_LEGAL_THREAT.search(text)),
        exception_request=bool(_EXCEPTION.search(text)),
        concedes_a_rule=bool(_CONCESSION.search(text)),
        repeated_losses=bool(_REPEATED_LOSSES.search(text)),
        days_said=[int(n) * _DAYS_PER[unit.lower()] for n, unit in _TIME_SAID.findall(text)],
        topics=[name for name, pattern in _TOPICS.items() if pattern.search(unpriced)],
        amounts=money_amounts(text),
    )
