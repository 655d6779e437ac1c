"""The offline model's compliance behaviour: read the request, document and policies; answer with one tool.

It plays a careful compliance analyst. It checks the request and any document against a set of
topic-level checks (international transfers, subprocessors, regulated data, consent, retention,
production data in test systems, secrets in logs, access, audit logging, breaches...), each tied
to the policy clauses it rests on; potential violations are flagged with those clauses. Requests
for customer commitments get advice and conditions. Everything else is a summary of the best
matching policies. It asks for the document when it is told to check one that is not there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from graphs.compliance.files import POLICY_FILE
from graphs.compliance.graph import (
    COMMITMENT_CUES,
    INFORMATIONAL,
    asks_in_general,
    categories_regulated,
    jurisdiction_parts,
    normalise_jurisdiction,
    reads_as_case,
    scope_of,
    terms_in,
)
from guardrails.intents import offline_reading
from guardrails.policy import load_policy
from guardrails.prompt_context import read_context
from hitl_core import embeddings
from hitl_core.offline_model import question_message, tool_call_message
from hitl_core.retrieval import tokens

_US = r"(?:united states|u\.s\.a?\.?|usa|(?-i:\bUS\b)|us-based|us region|american)"
_CHECK = re.compile(
    r"\b(check|review|assess|vet|audit|look over|go through|compliant|complian(ce|t) issues?|problems?|issues?|"
    r"red flags?|ok to (send|share|sign|use|publish)|can we (sign|send|share|use|publish))\b",
    re.IGNORECASE,
)
_REFERS_TO_DOCUMENT = re.compile(
    r"\b(this|these|attached|the following|below|enclosed)\b\s*(\w+\s){0,2}?(document|clause|contract|export|file|"
    r"form|draft|email|text|copy|spreadsheet|csv|dpa|agreement|notice|banner|script|template|list|policy|addendum)s?\b",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"\b(without|no|not|lacks?|lacking|missing|absent|skip\w*|never)\b[^.\n]*$", re.IGNORECASE)
_VAGUE = re.compile(r"\b(this|these|that|it|attached|here)\b", re.IGNORECASE)
_TIME = re.compile(r"\b(\d+)\s*(hours?|hrs?|days?|business days?|weeks?|months?|years?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Check:
    """A topic-level check: when `trigger` matches (and `unless` does not), the clauses may be breached."""

    id: str
    trigger: re.Pattern[str]
    clauses: dict[str, list[str]]
    """Clause references by jurisdiction (`*` for any, used when none of the others apply)."""
    issue: str
    recommendation: str
    severity: str = "medium"
    unless: re.Pattern[str] | None = None
    only: tuple[str, ...] = ()
    """Jurisdictions the check applies to (empty: all)."""

    def clauses_for(self, jurisdiction: str | None) -> list[str]:
        """The clauses that apply in a jurisdiction, or in each of several ("EU/UK")."""
        found: list[str] = []
        for part in jurisdiction_parts(jurisdiction):
            scope = scope_of(part, self.clauses)
            found += self.clauses[scope] if scope else []
        return list(dict.fromkeys(found)) or self.clauses.get("*") or next(iter(self.clauses.values()))

    def applies_in(self, jurisdiction: str | None) -> bool:
        """Whether the check applies in any of the jurisdictions named (none named: it applies)."""
        parts = jurisdiction_parts(jurisdiction)
        return not self.only or not parts or any(scope_of(part, self.only) for part in parts)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


CHECKS: tuple[Check, ...] = (
    Check(
        "international_transfer",
        _rx(
            r"\b(transfer|send|export|replicat|host|stor|process|move|sync|access|shar|disclos|provid)\w*\b[^.\n]{0,100}"
            rf"(\b{_US}\b|\b(india|china|outside the (eea|eu|uk)|third countr\w+|overseas|abroad)\b)"
            rf"|\bsub-?processors?\b[^.\n]{{0,30}}\b(located )?in (the )?{_US}"
        ),
        {"EU": ["pol-005 §1", "pol-021 §2"], "UK": ["pol-005 §2", "pol-021 §2"]},
        "Personal data of European customers would leave the EEA/UK without the required transfer mechanism "
        "(Standard Contractual Clauses and a transfer impact assessment, or the UK IDTA/Addendum).",
        "Require SCCs (or the UK Addendum) and a transfer impact assessment before any data moves.",
        "high",
        unless=_rx(
            r"standard contractual clauses|\bsccs?\b|data privacy framework|adequacy|transfer impact assessment|\btia\b|idta|uk addendum"
        ),
        only=("EU", "UK"),
    ),
    Check(
        "subprocessor_terms",
        _rx(
            r"\bsub-?processors?\b[^\n]{0,150}\b(without (further |prior |any )?(notice|notification|approval|consent|review)|"
            r"at (its|their) (sole )?discretion|any (third part|sub-?processor)\w*|no (dpa|data processing agreement)|"
            r"not (yet )?(signed|reviewed|approved))"
            r"|\bnew (vendor|processor|supplier|subprocessor)\b[^.\n]{0,80}\b(before|without|no)\b[^.\n]{0,30}"
            r"\b(dpa|data processing agreement|review|approval)"
        ),
        {"*": ["pol-021 §1", "pol-021 §3"]},
        "Subprocessors may receive customer data only after a security review, a signed DPA and compliance "
        "approval, and business customers must get 30 days' notice of a new one.",
        "Strike 'without notice'; require the subprocessor list, prior notice and our approval.",
    ),
    Check(
        "marketing_consent",
        _rx(
            r"\b(e-?mail(s|ing)?|sms|text messages?|text(s|ing)?|newsletters?|marketing|promotions?|campaigns?)\b[^.\n]{0,120}"
            r"\b(without (their |prior |explicit |any )?(consent|opt-?in|permission)|(did ?n[o']t|never|not) "
            r"(opt(ed)?[- ]in|consent\w*|sign(ed)? up|agree\w*)|pre-?ticked|ticked by default|opted[- ]in by default|"
            r"default opt-?in|all (of )?(our |the )?customers|everyone who (bought|ordered|purchased)|"
            r"(bought|purchased|rented) (a |an )?(email |contact )?list)"
            r"|\bpre-?ticked\b[^.\n]{0,60}\b(marketing|newsletter|consent)"
        ),
        {"EU": ["pol-007 §1"], "UK": ["pol-007 §1"], "US": ["pol-012 §2"], "*": ["pol-007 §1", "pol-012 §2"]},
        "Marketing needs prior opt-in consent (EU/UK: unticked box and double opt-in; US texts: written consent).",
        "Send only to customers with recorded consent for that channel.",
    ),
    Check(
        "unsubscribe",
        _rx(
            r"\b(unsubscribe|opt-?outs?)\b[^.\n]{0,80}\b([3-9]|[1-9]\d) (business )?days\b|\bno (working )?unsubscribe link\b"
            r"|\bwithout (an? )?unsubscribe\b"
        ),
        {"EU": ["pol-007 §3"], "UK": ["pol-007 §3"], "*": ["pol-012 §1"]},
        "Unsubscribes take effect within 48 hours (EU/UK) or 2 business days (US), with a working link.",
        "Honour opt-outs within the policy's time and include a one-click unsubscribe link.",
        "low",
    ),
    Check(
        "production_data_outside_production",
        _rx(
            r"\b(cop(y|ies|ied|ying)|dump|clon(e|ed|ing)|restore|load|import|refresh|use|seed)\w*\b[^.\n]{0,80}"
            r"\b(production|prod|live|real customer)\b[^.\n]{0,40}\b(data|database|db|records|dump|snapshot)\b"
            r"[^.\n]{0,80}\b(staging|test|testing|dev|development|qa|sandbox|laptop)\b"
            r"|\b(staging|test|dev|qa)\b[^.\n]{0,60}\b(with|from|using|on) (real|production|prod|live) "
            r"(customer )?(data|records)"
        ),
        {"*": ["pol-010 §1"]},
        "Production personal data must not be copied into development, staging or test environments.",
        "Use synthetic or irreversibly masked data for testing.",
        unless=_rx(r"\b(mask\w*|synthetic|anonymi[sz]\w*|pseudonymi[sz]\w*|scrubbed|fake)\b"),
    ),
    Check(
        "secrets_in_logs",
        _rx(
            r"\blog\w*\b[^.\n]{0,80}\b(full card|card numbers?|pan|passwords?|auth(entication)? tokens?|session tokens?|"
            r"cvv|cvc|full e-?mail|e-?mail address(es)?)\b"
            r"|\b(card numbers?|passwords?|cvv|tokens?|e-?mail address(es)?)\b[^.\n]{0,60}\b(in|into|to) (the |our )?"
            r"(app(lication)? )?logs?\b"
        ),
        {"*": ["pol-010 §2", "pol-025 §1"]},
        "Logs must not contain passwords, tokens, full card numbers or full email addresses.",
        "Mask or hash the fields before logging and purge the affected log lines.",
        "high",
        unless=_rx(r"\b(mask\w*|hash\w*|redact\w*|truncat\w*|last (4|four))\b"),
    ),
    Check(
        "retention",
        _rx(
            r"\b(keep|keeping|kept|retain\w*|store|storing|stored|hold|holding|archiv\w*)\b[^.\n]{0,80}"
            r"\b(forever|indefinitely|permanently|for ever|no (expiry|expiration|deletion|end date)|"
            r"(\d+|three|four|five|six|seven|eight|nine|ten) (years|yrs))\b"
        ),
        {"*": ["pol-001 §1", "pol-003 §1"]},
        "The retention schedule sets maximum periods; keeping records longer breaches it.",
        "Apply the scheduled retention period and delete (or anonymise) at its end.",
    ),
    Check(
        "deleting_required_records",
        _rx(
            r"\b(delete|deleting|erase|erasing|purge|purging|remove|removing|wipe|wiping)\w*\b[^.\n]{0,60}"
            r"\b(order|orders|invoices?|purchase|transaction|payment|financial|tax|all (of )?(their|the|his|her) data|"
            r"everything)\b"
        ),
        {"*": ["pol-002 §2", "pol-024 §2"]},
        "Order and financial records must be kept for 7 years and are restricted, not deleted, on request.",
        "Delete other data; restrict order records to finance, tax and legal use until the period ends.",
    ),
    Check(
        "standing_access",
        _rx(
            r"\b(permanent|standing|indefinite|unlimited|always-on|never[- ]expir\w*|ongoing)\b[^.\n]{0,40}"
            r"\b(admin\w*|access|privileges?|rights)\b"
            r"|\b(admin|root|superuser)\b[^.\n]{0,30}\b(access|rights)\b[^.\n]{0,40}\b(permanently|indefinitely|"
            r"for (all|every) (engineers?|developers?|staff))"
        ),
        {"*": ["pol-011 §2", "pol-011 §1"]},
        "Standing administrative access to production data is not permitted; access is time-bounded.",
        "Grant least-privilege access for at most 8 hours, approved by the owning team.",
        "high",
    ),
    Check(
        "audit_logging",
        _rx(
            r"\b(disable|disabling|turn(ing)? off|switch(ing)? off|pause|pausing|stop|stopping|delete|deleting|"
            r"purge|truncate|shorten)\w*\b[^.\n]{0,40}\baudit (log|logs|logging|trail)"
        ),
        {"*": ["pol-016 §2"]},
        "Disabling, pausing or deleting production audit logging is prohibited.",
        "Keep audit logging on; reduce noise with filters in the log viewer instead.",
        "high",
    ),
    Check(
        "card_details_requested",
        _rx(
            r"\b(ask|asking|request|requesting|collect|collecting|require|type|enter|send|provide|read out|give)\w*\b"
            r"[^.\n]{0,60}\b(card numbers?|credit card( details)?|cvv|cvc|security codes?|expiry dates?|expiration dates?)\b"
        ),
        {"*": ["pol-025 §4", "pol-025 §2"]},
        "Staff must never ask customers for card numbers, security codes or expiry dates.",
        "Send the customer the hosted payment link instead.",
        "high",
    ),
    Check(
        "identity_documents",
        _rx(
            r"\b(passports?|driver'?s licen[cs]es?|id cards?|identity documents?|photo ids?|national ids?|government ids?)\b"
            r"[^.\n]{0,80}\b(verif\w*|confirm\w*|check\w*|prove|proof)\b"
            r"|\b(verif\w*|prove)\b[^.\n]{0,60}\b(passports?|driver'?s licen[cs]es?|id cards?|identity documents?|photo ids?)\b"
        ),
        {"*": ["pol-009 §4", "pol-027 §1"]},
        "Identity is verified by a code to the account email; identity documents are not accepted or collected.",
        "Verify through the account email code instead of documents.",
    ),
    Check(
        "children",
        _rx(
            r"\b(child|children|kids?|minors?|under 1[3-8]|teen(ager)?s?)\b[^.\n]{0,80}"
            r"\b(data|accounts?|names?|ages?|birth\w*|profiles?|collect\w*|sign(ing)? up|register\w*)\b"
        ),
        {"*": ["pol-028 §1", "pol-028 §3"]},
        "Accounts are for adults only, and children's data is not knowingly collected.",
        "Drop the fields about children; delete data found to belong to a child within 30 days.",
        "high",
    ),
    Check(
        "breach",
        _rx(
            r"\b(was|were|been|got|is|are)\s+(\w+\s){0,2}(breached|leaked|exposed|compromised|stolen|hacked)\b"
            r"|\b(we|they|someone|somebody|an? (attacker|hacker|employee|contractor|vendor|agent))\b[^.\n]{0,40}"
            r"\b(leaked|exposed|stole|hacked|breached|accessed|downloaded|accidentally (sent|shared|emailed|published))\b"
            r"|\b(had|have had|suffered|detected|discovered|found) (a |an )?(data |security )?(breach|leak|incident)\b"
            r"|\b(a|the|this|our) (data |security )?breach (at|of|affecting|that|which|in|last|yesterday|this)\b"
            r"|\bransomware\b|\baccidentally (sent|shared|emailed|published|exposed)\b"
            r"|\bunauthori[sz]ed (access|disclosure) (to|of)\b"
        ),
        {
            "EU": ["pol-018 §1", "pol-018 §2", "pol-018 §3", "pol-019 §2"],
            "UK": ["pol-018 §1", "pol-018 §2", "pol-018 §3", "pol-019 §2"],
            "US": ["pol-018 §1", "pol-018 §4", "pol-019 §2"],
            "*": ["pol-018 §1", "pol-018 §2", "pol-018 §4", "pol-019 §2"],
        },
        "A suspected personal data breach: security within 1 hour, and the notification clocks are running "
        "(72 hours for EU/UK regulators; state law in the US).",
        "Report to security now; the compliance officer decides on regulator and customer notifications.",
        "high",
    ),
    Check(
        "tracking_consent",
        _rx(
            r"\b(cookies?|pixels?|tracking|trackers?|analytics tags?)\b[^.\n]{0,80}\b(before|without|prior to)\b"
            r"[^.\n]{0,50}\b(consent\w*|opt-?in|banner|accept\w*|choice)\b"
            r"|\bignor\w*\b[^.\n]{0,30}\b(gpc|global privacy control|do not track)\b"
            r"|\bpre-?(ticked|checked)\b[^.\n]{0,40}\bcookies?\b"
        ),
        {"EU": ["pol-008 §1"], "UK": ["pol-008 §1"], "US": ["pol-008 §2"], "*": ["pol-008 §1", "pol-008 §2"]},
        "Non-essential tracking needs prior opt-in in the EU/UK, and a Global Privacy Control signal is an opt-out in California.",
        "Load tags only after consent and honour GPC signals.",
    ),
    Check(
        "request_deadline",
        _rx(
            r"\b(access|deletion|erasure|privacy|data subject|subject access|dsar|opt-?out|correction)\s+requests?\b"
            r"[^.\n]{0,100}\b(([5-9]\d|\d{3}) days|([2-9]|1\d) months|([7-9]|1\d) weeks)\b"
        ),
        {"EU": ["pol-009 §1"], "UK": ["pol-009 §1"], "US": ["pol-009 §2"], "*": ["pol-009 §1", "pol-009 §2"]},
        "Privacy requests are due within 30 days (EU/UK) or 45 days (California).",
        "Answer within the statutory period, or extend only with notice to the requester.",
    ),
    Check(
        "high_risk_processing",
        _rx(
            r"\b(launch|start|roll(ing)? out|deploy|introduce|pilot)\w*\b[^.\n]{0,80}\b(profiling|facial recognition|"
            r"face scan\w*|biometric\w*|fingerprint\w*|voiceprint\w*|location tracking|behavioural (tracking|advertising))"
        ),
        {"*": ["pol-015 §2", "pol-015 §1"]},
        "Processing likely to be high risk needs an approved impact assessment before launch.",
        "Complete a DPIA and have it approved by the compliance officer before launch.",
        "high",
        unless=_rx(r"\b(dpia|impact assessment)\b[^.\n]{0,40}\b(done|completed|approved|signed off)\b"),
    ),
    Check(
        "unapproved_tools",
        _rx(
            r"\b(paste|pasted|pasting|upload\w*|put|share|sharing|post\w*|forward\w*)\b[^.\n]{0,60}"
            r"\b(customer|personal|client|user)s?\b[^.\n]{0,30}\b(data|details|records|e-?mails?|addresses|lists?|information)\b"
            r"[^.\n]{0,60}\b(chatgpt|ai tools?|ai chatbots?|public (chat|channel|slack)|#general|personal (e-?mail|drive)|"
            r"gmail|dropbox)"
        ),
        {"*": ["pol-010 §3"]},
        "Personal data may not go into public channels or unapproved AI tools.",
        "Use an approved vendor, or remove the personal data first.",
    ),
    Check(
        "sensitive_inference",
        _rx(
            r"\b(infer\w*|target\w*|segment\w*|recommend\w*|personali[sz]\w*)\b[^.\n]{0,80}\b(health|pregnan\w*|"
            r"religio\w*|sexual orientation|medical|disabilit\w*|ethnic\w*)"
        ),
        {"*": ["pol-014 §1"]},
        "Recommendations must not infer health, religion, sexual orientation or other special categories.",
        "Base recommendations on browsing and order history only.",
        "high",
    ),
    Check(
        "sale_after_opt_out",
        _rx(
            r"\b(sell|selling|sold|share|sharing)\b[^.\n]{0,100}\b(who (have )?opted out|opted-? ?out|"
            r"despite (their|the) opt-?out|even (if|though) they opted)"
        ),
        {"*": ["pol-013 §4", "pol-009 §3"]},
        "Selling or sharing personal information stops for consumers who opted out.",
        "Exclude opted-out consumers before any sharing.",
        only=("US", "US-CA"),
    ),
)
_REGULATED_CLAUSES = {
    "government_id": ["pol-027 §1", "pol-027 §3"],
    "health": ["pol-026 §1", "pol-026 §2"],
    "payment_card": ["pol-025 §1", "pol-020 §2"],
    "children": ["pol-028 §1", "pol-028 §3"],
    "biometric": ["pol-015 §2"],
    "financial_account": ["pol-010 §2"],
    "bank_account": ["pol-010 §2"],
}
"""Where the library governs each regulated category (collection, storage, display)."""
_REGULATED_ADVICE = (
    "Remove or redact the regulated fields and keep them only where a policy allows it; report copies found "
    "where they should not be to security."
)
_NOT_HELD = {"health": "pol-026 §3", "payment_card": "pol-025 §1", "government_id": "pol-027 §1"}
"""Regulated data the company does not hold at all: a commitment to hold it cannot be made."""
_SHARING = _rx(
    r"\b(analytics|advertis\w*|ad (partner|network)|marketing partner|partners?|third[- ]part\w*|vendors?|share|"
    r"sharing|export\w*|upload\w*|send (it|this|them) to)\b"
)
_HANDLING = _rx(
    r"\b(collect\w*|ask\w*|field|form|require\w*|stor(e|ing|ed)|captur\w*|record\w*|columns?|request\w*|keep|"
    r"archiv\w*|log\w*|wrote|typed|pasted|notes?|transcripts?|exports?|datasets?|sign-?up|survey|upload\w*|"
    r"process\w*|hold|covering|host\w*)\b"
)
_NUMBER_WORDS = {"three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_RETENTION_SUBJECTS: tuple[tuple[re.Pattern[str], str, float], ...] = (
    (_rx(r"\b(chats?|transcripts?|tickets?)\b"), "pol-001 §1", 2.0),
    (_rx(r"\b(call recordings?|recorded calls?|phone calls?)\b"), "pol-001 §3", 0.25),
    (_rx(r"\baudit logs?\b"), "pol-003 §2", 1.0),
    (_rx(r"\b(backups?)\b"), "pol-003 §3", 0.1),
    (_rx(r"\blogs?\b"), "pol-003 §1", 0.25),
    (_rx(r"\b(inactive|dormant|old) (customer )?accounts?\b"), "pol-004 §1", 3.0),
    (_rx(r"\b(orders?|invoices?)\b"), "pol-002 §3", 7.0),
)


def respond(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
    """One deterministic compliance answer for the given prompt."""
    context = read_context(messages)
    text = str(context.get("request") or "")
    document = str(context.get("document") or "")
    policies = context.get("policies") or []
    words = len(tokens(text))
    # The validator's intent signal reads a commitment asked in other words ("tell them in writing we will...").
    policy = load_policy("compliance", own_file=POLICY_FILE)
    intent, only_information = offline_reading(policy, text)
    # A short request whose "it" or "this" is all it says is asked about; a question that names its
    # subject in three words or more ("what's a DPIA and who signs it off?") is answered.
    names_its_subject = only_information and words >= 3
    if not document and (words < 2 or (words < 5 and _VAGUE.search(text) and not names_its_subject)):
        return question_message(
            ["the document or the question"],
            "What would you like me to look at? Please paste the document or clause, or tell me the topic.",
        )
    if not document and _REFERS_TO_DOCUMENT.search(text) and _CHECK.search(text):
        return question_message(
            ["the document to check"], "Please paste the document (or the clause) you would like me to check."
        )
    asked_to_commit = intent == "customer_commitment" and not document  # a document is judged, not promised
    # A general question that merely names a commitment ("what counts as a commitment?") is answered.
    routine = not document and not context.get("customer_commitment") and only_information
    if context.get("customer_commitment") or (COMMITMENT_CUES.search(text) and not routine) or asked_to_commit:
        return _advise(text, document, context)
    asks = bool(INFORMATIONAL.search(text)) or asks_in_general(text, bool(document))
    informational = asks and not reads_as_case(text, bool(document), only_information)
    if document or not informational:
        found = _violations(f"{text}\n{document}", context)
        if found:
            return _flag(found, context)
    return _summarize(text, document, context, policies)


def _regulated(context: dict[str, Any], text: str) -> list[str]:
    regulated = context.get("regulated") or {}
    found = {c for values in regulated.values() for c in values}
    found.update(categories_regulated([str(c) for c in context.get("data_categories") or []]))
    found.update(terms_in(text))
    return sorted(found)


def _violations(text: str, context: dict[str, Any]) -> list[dict[str, str]]:
    jurisdiction = normalise_jurisdiction(context.get("jurisdiction"))
    out: list[dict[str, str]] = []
    seen: set[str] = set()

    def add(clause: str, issue: str) -> None:
        if clause not in seen:
            seen.add(clause)
            out.append({"clause": clause, "issue": issue})

    regulated = _regulated(context, text)
    if regulated and (_SHARING.search(text) or _HANDLING.search(text)):
        if _SHARING.search(text):
            add(
                "pol-013 §1",
                "Government identifiers, health data and full card numbers must never be shared with partners.",
            )
        for category in regulated:
            for clause in _REGULATED_CLAUSES.get(category, []):
                add(clause, f"{category.replace('_', ' ')} data is involved, which the policies restrict.")
    for check in CHECKS:
        if not check.applies_in(jurisdiction):
            continue
        if not check.trigger.search(text) or _mitigated(check.unless, text):
            continue
        if check.id == "retention":
            for sentence in re.split(r"(?<=[.;!?\n])\s*", text):
                if not check.trigger.search(sentence):
                    continue
                subject = next(((ref, years) for rx, ref, years in _RETENTION_SUBJECTS if rx.search(sentence)), None)
                asked = re.search(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r") (years|yrs)\b", sentence, re.IGNORECASE)
                count = (
                    (int(asked.group(1)) if asked.group(1).isdigit() else _NUMBER_WORDS[asked.group(1).lower()])
                    if asked
                    else None
                )
                if subject is not None and (count is None or count > subject[1]):
                    add(subject[0], check.issue)
            continue
        for clause in check.clauses_for(jurisdiction):
            add(clause, check.issue)
    return out


def _mitigated(unless: re.Pattern[str] | None, text: str) -> bool:
    """Whether a mitigation is stated, not merely mentioned as missing ("without a transfer impact assessment")."""
    if unless is None:
        return False
    return any(not _NEGATED.search(text[max(0, m.start() - 30) : m.start()]) for m in unless.finditer(text))


def _severity(found: list[dict[str, str]], context: dict[str, Any], text: str) -> str:
    high = {c.id for c in CHECKS if c.severity == "high"}
    issues = {v["issue"] for v in found}
    if _regulated(context, text) or any(c.issue in issues for c in CHECKS if c.id in high):
        return "high"
    return "medium" if len(found) > 1 or any(c.issue in issues and c.severity == "medium" for c in CHECKS) else "low"


def _flag(found: list[dict[str, str]], context: dict[str, Any]) -> AIMessage:
    text = f"{context.get('request') or ''}\n{context.get('document') or ''}"
    recommendations = list(dict.fromkeys(c.recommendation for c in CHECKS if any(c.issue in v["issue"] for v in found)))
    if any(v["clause"] in {c for refs in _REGULATED_CLAUSES.values() for c in refs} for v in found):
        recommendations.insert(0, _REGULATED_ADVICE)
    refs = ", ".join(v["clause"] for v in found)
    summary = f"{len(found)} potential violation(s) of {refs}: " + " ".join(dict.fromkeys(v["issue"] for v in found))
    severity = _severity(found, context, text)
    message = (
        f"Potential violations found ({severity}): {refs}. "
        + " ".join(recommendations)
        + " A compliance officer decides the finding."
    )
    return tool_call_message(
        "flag_violation",
        {
            "subject_id": str(context.get("subject_id") or "unknown"),
            "jurisdiction": context.get("jurisdiction"),
            "severity": severity,
            "violations": found[:10],
            "summary": summary[:2000],
            "recommendation": " ".join(recommendations)[:2000] or "Review with the document owner.",
        },
        message,
        min(0.9, 0.72 + 0.04 * len(found)),
    )


def _advise(text: str, document: str, context: dict[str, Any]) -> AIMessage:
    combined = f"{text}\n{document}"
    if len(tokens(combined)) < 6:
        return question_message(
            ["the exact commitment asked for"], "What exactly would we commit to? Please share the wording."
        )
    jurisdiction = context.get("jurisdiction")
    parts = jurisdiction_parts(normalise_jurisdiction(jurisdiction))
    clauses = ["pol-023 §1", "pol-023 §2"]
    conditions = [
        "Written approval by the compliance officer (pol-023 §1)",
        "Recorded in the contract register with an owner and review date (pol-023 §3)",
    ]
    position = "acceptable_with_conditions"
    lowered = combined.lower()
    if re.search(r"\b(delet|eras|remov|purg)\w*", lowered):
        deadline = "pol-009 §1" if {"EU", "UK"} & set(parts) else "pol-009 §2"
        clauses += [deadline, "pol-024 §3"]
        asked = _TIME.search(lowered)
        days = _days(asked) if asked else None
        standard = 30 if deadline == "pol-009 §1" else 45
        if days is not None and days >= standard:
            position = "acceptable"
            conditions = ["Matches the published deletion timeline; no exception is needed"]
        if re.search(r"\b(their|all|any|every)\b[^.\n]{0,20}\b(data|records|information)\b|\border", lowered):
            clauses += ["pol-002 §2"]
            conditions.append("Order records are restricted, not deleted, during the 7-year tax period (pol-002 §2)")
            position = "acceptable_with_conditions"
    if re.search(r"\b(residen\w+|region|hosted in|stored in|stay in|located in|data centre|data center)\b", lowered):
        clauses += ["pol-006 §1", "pol-006 §2"]
        conditions.append("Remote support access from the US remains possible under SCCs and is logged (pol-006 §2)")
    if re.search(r"\baudit\w*\b", lowered):
        conditions.append("Audit rights beyond the standard DPA are scoped and scheduled with security")
    if re.search(r"\b(notif\w+|inform|tell)\b[^.\n]{0,60}\b(breach|incident)", lowered) or re.search(
        r"\bbreach\b", lowered
    ):
        clauses += ["pol-018 §1", "pol-022 §2"]
    if re.search(r"\bsub-?processors?\b", lowered):
        clauses += ["pol-021 §3"]
    if re.search(r"\b(retain|retention|keep)\b", lowered):
        clauses += ["pol-001 §1"]
    not_held = [c for c in _regulated(context, combined) if c in _NOT_HELD]
    if not_held and _HANDLING.search(lowered):
        position = "not_acceptable"
        clauses += [_NOT_HELD[c] for c in not_held]
        conditions = [f"Northwind Home does not hold {c.replace('_', ' ')} data ({_NOT_HELD[c]})" for c in not_held]
    if re.search(r"\b(never|no) (notify|report)\w*\b|\bwaive\w*\b[^.\n]{0,40}\b(notification|right)", lowered):
        position = "not_acceptable"
        clauses += ["pol-018 §5"]
        conditions = ["We cannot contract away legal notification duties (pol-018)"]
    commitment = " ".join(text.split())[:1000]
    wording = {
        "acceptable": "We can make this commitment: it matches our published policy.",
        "acceptable_with_conditions": "We can consider this only as a non-standard commitment, with conditions.",
        "not_acceptable": "We cannot make this commitment as worded.",
    }[position]
    advice = f"{wording} " + " ".join(f"{c}." for c in conditions)
    return tool_call_message(
        "advise_commitment",
        {
            "subject_id": str(context.get("subject_id") or "unknown"),
            "jurisdiction": jurisdiction,
            "commitment": commitment,
            "position": position,
            "conditions": conditions,
            "clauses": list(dict.fromkeys(clauses)),
            "advice": advice[:2000],
        },
        f"{advice} A compliance officer decides whether we make this commitment.",
        0.75,
    )


def _days(match: re.Match[str]) -> float:
    value, unit = float(match.group(1)), match.group(2).lower()
    if unit.startswith(("hour", "hr")):
        return value / 24
    if unit.startswith("week"):
        return value * 7
    if unit.startswith("month"):
        return value * 30
    if unit.startswith("year"):
        return value * 365
    return value


def _closest_clauses(clauses: list[dict[str, Any]], question: Any, wanted: set[str]) -> list[dict[str, Any]]:
    """The two clauses closest in meaning to the question (shared words break ties).

    By shared words alone, "how long do they get to wipe our data?" cited a policy's clauses on
    reassessment and incident notice, not the one that answers it (30 days).
    """
    vectors = embeddings.embed_fixed([str(c["text"]) for c in clauses])  # a policy's clauses: cached per policy
    meaning = vectors @ question
    order = sorted(
        range(len(clauses)),
        key=lambda i: (round(float(meaning[i]), 2), len(wanted & set(tokens(str(clauses[i]["text"]))))),
        reverse=True,
    )
    return [clauses[i] for i in order[:2]]


def _summarize(text: str, document: str, context: dict[str, Any], policies: list[dict[str, Any]]) -> AIMessage:
    topic = " ".join(text.split())[:200]
    if not policies:
        return tool_call_message(
            "summarize_obligations",
            {
                "topic": topic,
                "jurisdiction": context.get("jurisdiction"),
                "policies": [],
                "clauses": [],
                "summary": "None of our policies covers this topic; a compliance officer can advise.",
            },
            "None of our policies covers this topic, so I can't summarise an obligation; a compliance officer can advise.",
            0.35,
        )
    best = float(policies[0]["score"])
    chosen = [p for p in policies[:2] if float(p["score"]) >= max(0.3, best - 0.15)] or policies[:1]
    lines, refs = [], []
    question = embeddings.embed([f"{text} {document}"])[0]
    wanted = set(tokens(f"{text} {document}"))
    for policy in chosen:
        ranked = _closest_clauses(policy["clauses"], question, wanted)
        ordered = [c for c in policy["clauses"] if c in ranked]
        refs += [c["ref"] for c in ordered]
        lines.append(
            f"{policy['title']} ({policy['id']}): {policy['summary']} "
            + " ".join(f"[{c['ref']}] {c['text']}" for c in ordered)
        )
    prefix = (
        "No potential violation found in the document by the automated checks. Obligations that apply: "
        if document
        else ""
    )
    summary = (prefix + " ".join(lines))[:4000]
    return tool_call_message(
        "summarize_obligations",
        {
            "topic": topic,
            "jurisdiction": context.get("jurisdiction"),
            "policies": [p["id"] for p in chosen],
            "clauses": refs,
            "summary": summary,
        },
        summary,
        round(min(0.95, 0.45 + 0.5 * best), 2),
    )
