"""What a request asks for, judged on the request itself: the validator's intent signal.

Each policy lists kinds of request (`intents`) with labelled examples and a minimum route. A request
is split into its sentences and clauses; each part (and the whole request) is embedded with the
configured sentence-embedding model. Two readings, chosen by the policy's `intent_reading`:

- `classifier` (the default): a linear classifier trained on every intent's examples at once
  (`guardrails.intent_classifier`) gives each intent's probability. An intent counts when it is
  likely enough, and an intent stricter than auto at a lower bar (in doubt, the stricter reading);
  a part counts at all only when its closest examples reach the policy's `intent_min_score`.
- `nearest`: the examples compared one by one, the way NeMo Guardrails matches user messages to
  canonical forms. An intent's score is the mean cosine similarity of its three closest examples
  plus a little lexical evidence (how much of the part one example covers, from a BM25 index); the
  best intent of each part counts when it reaches the bar.

A request may carry several intents ("what are your hours? also, close my account"); the strictest
minimum route wins. The validator does not ask the agent's model what the request is. Whatever the
model proposes, no route below the request's minimum is taken (`intent_checks`), and the reviewer is
told why. A request that no intent reads gets the policy's `unread_route` (review by default): the
agent has not understood it, and a harmless proposal ("let me look at the logs") must not complete a
change asked in words no example knows.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from guardrails.intent_classifier import IntentClassifier
from guardrails.policy import Intent, IntentReading, Policy, Rule
from guardrails.routing import ROUTE_ORDER, Check, rule_holds
from hitl_core.canonical import value_hash
from hitl_core.masking import placeholders_as_words

TOP_EXAMPLES = 3
LEXICAL_WEIGHT = 0.1
"""Share of the combined score that comes from lexical evidence (the rest is semantic)."""
MAX_SEGMENTS = 8
TENTATIVE = "the request may be one the agent must refuse, on one reading of two; a person decides"
UNREAD_RULE = "the request reads as none of the requests this agent knows; a person decides what it asks"
UNREAD_ASK_RULE = "a go-ahead in the request reads as no action this agent knows; a person decides what it asks"
_SPLIT = re.compile(
    r"(?<=[.!?;:])\s+|\n+|\s+(?:-|–|—)\s+"
    r"|,?\s+\b(?:also|and also|oh and|btw|but also|and then|then|and please|so please|and can you|and could you)\b[,:]?\s+"
    r"|,\s+plus\b[,:]?\s+"  # "..., plus close the ticket"; not a product's name ("my Plus membership")
    r"|,\s+(?=so\s+(?:i|i'd|i'm|we|can|could|would)\b)"  # "it broke, so I'd rather ...": the ask after the reason
    r"|,?\s+and\s+(?=if\b)",  # "check the error rate, and if it's above 2%, roll it back": the change on its own
    re.I,
)


_NOT_A_VERB = (
    r"(?:i|we|you|he|she|it|they|there|this|that|these|those|the|a|an|my|our|your|its|their|is|are|was|were|am|be"
    r"|do|does|did|can|could|would|should|will|shall|may|might|must|have|has|had|what|whats|how|hows|why|when|where"
    r"|which|who|whose|no|yes|not|nothing|any|all|thanks|thank|ok|okay|great|cool|fine"
    r"|for|by|to|in|on|at|with|since|about|from|after|before|until|of|as|than|because|or|and|but|so"
    r"|let (?:me|us) know|lmk|tell (?:me|us)|ping me|shout)(?:'\w+)?\b"
)
_PLEASE = r"(?:(?:then|just|pls|please|go ahead and|feel free to|do)\s+)*"
_GO_AHEAD = re.compile(
    # "if not, promote it", "if so let it roll": the condition first, then a verb
    r"^(?:(?:and|then|so|ok|okay|otherwise|but)\s+)?if\b(?:[^,;:]{0,80}[,;:]|\s+(?:so|not|yes)\b)\s*"
    + _PLEASE
    + r"(?!"
    + _NOT_A_VERB
    + r")[a-z]+"
    # "tune it if needed", "add me if so": a verb first, the condition at the end
    r"|^" + _PLEASE + r"(?!" + _NOT_A_VERB + r")[a-z]+\b.{0,80}\bif (?:so|not|yes|needed|necessary|required|possible"
    r"|it helps|that helps|it would help|it does|it is|it's (?:safe|fine|ok|okay|clean|green|quiet|bad))\W*$",
    re.I,
)
"""A clause that gives a go-ahead on a condition: by its form an ask to act, whatever its words."""


@dataclass(frozen=True)
class IntentMatch:
    """One intent found in a request: how close, and in which words."""

    id: str
    score: float
    semantic: float
    lexical: float
    segment: str
    tentative: bool = False
    """A refusal read by the classifier alone: a person confirms it instead of the agent refusing."""

    def as_dict(self) -> dict[str, Any]:
        """Plain form for graph state and the review payload."""
        out: dict[str, Any] = {
            "id": self.id,
            "score": round(self.score, 4),
            "semantic": round(self.semantic, 4),
            "lexical": round(self.lexical, 4),
            "segment": self.segment,
        }
        if self.tentative:
            out["tentative"] = True
        return out


def _clauses(text: str) -> list[str]:
    """The request's sentences and clauses as written, spaces normalised."""
    return [" ".join(p.split()) for p in _SPLIT.split(text) if p and p.strip()]


def segments(text: str) -> list[str]:
    """The whole request, then its sentences and clauses (the parts that say something)."""
    from hitl_core.retrieval import tokens

    whole = " ".join(text.split())
    parts = _clauses(text)
    out = [whole] if tokens(whole) else []
    for part in parts:
        words = tokens(part)
        # A label of a few words before a colon ("dev env:", "prod:") introduces what follows; alone it asks nothing.
        label = part.endswith(":") and len(words) <= 3
        if part != whole and words and part not in out and not label:
            out.append(part)
    return out[: MAX_SEGMENTS + 1]


_IDENTIFIER = re.compile(r"(?<![\w-])(?=[\w.-]*\d)(?=[\w.-]*[^\W\d_])[\w][\w.-]{4,}[\w](?![\w-])")
"""A word of six or more characters mixing letters and digits: an order or ticket number, a version, a user name."""


_SAFEGUARD = re.compile(
    r"\b(?:don'?t|do not|dont|never|without)\s+(?:(?:ever|even|just|actually|accidentally|\w+ly)\s+)?"
    r"(?:delet|drop|wip|remov|purg|truncat|eras|destroy|los)\w*\s+"
    r"(?:anything|any\s+\w+|a\s+thing|the\s+\w+|data|rows|records|backups?)\b",
    re.I,
)
"""Words forbidding the loss of data ("don't delete anything", "without dropping anything"): a safeguard."""


def without_safeguards(text: str) -> str:
    """The request without the words that forbid destroying something: they ask for no destruction.

    "grow the volume by 200GB? don't delete anything" asks for a bigger volume; "don't delete the
    backups, just drop the audit table" still asks for a drop. Words against telling or recording
    ("don't log this") are no safeguard and stay, and so do words against acting at all ("don't touch
    anything"), which `says_hands_off` reads.
    """
    return _SAFEGUARD.sub(" ", text)


def as_read(text: str) -> str:
    """What the intent reader embeds: masked values said in plain words, identifiers as one plain word.

    Identifiers carry no intent, and a model that never saw "Límaab12c9" or "[CARD ****1111]" reads
    odd things into them (a self-introduction with such a name once read as getting into someone
    else's account).
    """
    return _IDENTIFIER.sub("ID", placeholders_as_words(text))


class ExampleBank:
    """The policy's labelled examples: as the reader reads them (`read`), their vectors, a lexical index, the classifier."""

    def __init__(self, intents: dict[str, Intent], reading: IntentReading) -> None:
        from hitl_core import embeddings
        from hitl_core.retrieval import Document, Index

        self.labels = [name for name, intent in intents.items() for _ in intent.examples]
        self.texts = [example for intent in intents.values() for example in intent.examples]
        self.read = [as_read(t) for t in self.texts]
        self.vectors = embeddings.embed_fixed(self.read)
        self.index = Index([Document(str(i), "", t, {}) for i, t in enumerate(self.texts)])
        self.names = list(intents)
        labels = np.array(self.labels)
        self._members = {name: labels == name for name in self.names}  # each intent's rows, for `score`
        self.classifier = (
            IntentClassifier.trained(self.names, self.labels, self.read, self.vectors, reading.regularisation)
            if reading.kind == "classifier"
            else None
        )

    def score(self, segment: str, vector: Any) -> list[IntentMatch]:
        """The intents ranked for one segment, given the segment's embedding."""
        similarity = self.vectors @ vector
        lexical = np.zeros(len(self.texts), dtype=np.float32)
        for doc, coverage, _ in self.index.search(segment, k=len(self.texts)):
            lexical[int(doc.id)] = coverage
        out = []
        for name in self.names:
            mine = self._members[name]
            sims = np.sort(similarity[mine])[::-1][:TOP_EXAMPLES]
            semantic = float(sims.mean())
            lex = float(lexical[mine].max())
            score = (1 - LEXICAL_WEIGHT) * semantic + LEXICAL_WEIGHT * lex
            out.append(IntentMatch(name, score, semantic, lex, segment))
        return sorted(out, key=lambda m: m.score, reverse=True)


_loaded: dict[str, ExampleBank] = {}
_lock = threading.Lock()


def example_bank(policy: Policy) -> ExampleBank:
    """The policy's examples as every request is read against them (built once per process and policy)."""
    reading = policy.intent_reading
    key = value_hash([{name: intent.examples for name, intent in policy.intents.items()}, reading.model_dump()])
    with _lock:
        if key not in _loaded:
            _loaded[key] = ExampleBank(policy.intents, reading)
        return _loaded[key]


def prepare(policy: Policy) -> None:
    """Embed the policy's examples now (and keep them in the disk cache) rather than on the first request.

    A harness that spawns and kills processes calls this first: a child killed while computing the
    cache would otherwise leave it cold for the next one.
    """
    if policy.intents:
        example_bank(policy)


def classify(policy: Policy, text: str) -> dict[str, Any]:
    """The request's intents (best per sentence, at or above the policy's threshold), and the runners-up.

    Returns `{"text_hash", "matches": [...], "nearest": [...], "unread"}`; `matches` are the intents
    that count, strongest first, one per intent; `nearest` the top three of the whole request, shown to
    the reviewer whether or not they count; `unread` is true when no intent counts (`intent_checks`
    gives such a request the policy's `unread_route`).
    """
    out: dict[str, Any] = {
        "text_hash": value_hash(text),
        "matches": [],
        "nearest": [],
        "unread": False,
        "unread_asks": [],
    }
    if not policy.intents or not text.strip():
        return out
    examples = example_bank(policy)
    best: dict[str, IntentMatch] = {}
    from hitl_core import embeddings

    parts = segments(without_safeguards(text))
    if not parts:  # nothing but punctuation or stop words
        return out
    read = [as_read(part) for part in parts]
    # Intents a how-to question in the request answers ("How do exchanges work?"): none without one.
    answered = {name for name, intent in policy.intents.items() if intent.how_to_answers}
    if answered and not _asks_how_to_in(text):
        answered = set()
    # Acts a requester who says not to act asks about ("would a restart help? don't touch anything").
    hands_off = {name for name, intent in policy.intents.items() if intent.hands_off_answers}
    if hands_off and not says_hands_off(text):
        hands_off = set()
    vectors = embeddings.embed(read)  # one forward pass for the request and all its sentences
    probabilities = examples.classifier.probabilities(vectors, read) if examples.classifier is not None else None
    for index, segment in enumerate(parts):
        near = [replace(m, segment=segment) for m in examples.score(read[index], vectors[index])]
        if index > 0:  # a sentence of a longer request: intents judged on the whole request do not apply
            near = [m for m in near if not policy.intents[m.id].whole_request]
        # A go-ahead on a condition is an ask by its form: it is read at the whole request's bar.
        go_ahead = _gives_go_ahead(segment, index)
        how_to = _asks_how_to(segment)
        set_aside: set[str] = set()
        if answered and (index == 0 or how_to or (not go_ahead and _is_its_subject(segment))):
            # A wish told, or whether one may, beside a how-to question is its subject, not an ask; an ask
            # made outright is read in its own sentence, so the whole request (the wish and the question
            # together) is not. The how-to question itself ("How do I close my account?") asks for the
            # steps: what it asks about is set aside and the rest read as they would be without it.
            near = [m for m in near if m.id not in answered]
            set_aside = answered if how_to else set()
        if hands_off and _hands_off_subject(segment, index, text):
            near = [m for m in near if m.id not in hands_off]
            set_aside = set_aside | hands_off
        ranked = (
            near if probabilities is None else _by_probability(near, examples.names, probabilities[index], set_aside)
        )
        if index == 0:
            out["nearest"] = [m.as_dict() for m in ranked[:3]]
        # The closest intent that clearly outranks every milder one: when the very closest is only a
        # hair ahead of a milder reading, the request is still at least as risky as the next in line.
        nearest_choice = next((m for m in near[:3] if _counts(policy, m, near)), None)
        if probabilities is None:
            chosen = [nearest_choice] if nearest_choice is not None else []
        elif near and near[0].score >= policy.intent_min_score:  # the part is near some intent at all
            agreed = nearest_choice.id if nearest_choice is not None else None
            routine = sum(m.score for m in ranked if policy.intents[m.id].route == "auto")
            sure = policy.intent_reading.sure_probability
            # A refusal the classifier is not sure of is left to a person (see `intent_checks`) unless the
            # nearest examples read it too and the classifier finds no other reading likelier.
            chosen = [
                replace(
                    m,
                    tentative=policy.intents[m.id].route == "block"
                    and m.score < sure
                    and (m.id != agreed or m.id != ranked[0].id),
                )
                for m in ranked
                if _likely(policy, m, whole=index == 0 or go_ahead, routine=routine)
            ]
        else:
            chosen = []
        if go_ahead and not chosen:
            # It asks for something, and nothing it could ask for is read: a person decides what.
            out["unread_asks"].append(segment)
        for match in chosen:
            if match.id not in best or match.score > best[match.id].score:
                best[match.id] = match
    out["matches"] = [m.as_dict() for m in sorted(best.values(), key=lambda m: m.score, reverse=True)]
    out["unread"] = not best
    return out


def _by_probability(
    ranked: list[IntentMatch], names: list[str], probabilities: Any, set_aside: set[str] | frozenset[str] = frozenset()
) -> list[IntentMatch]:
    """The same matches scored by the classifier's probability (the closest examples' scores kept beside it).

    `set_aside`: intents ruled out for this part (a wish a how-to question asks about): the others'
    probabilities are read given that, so "How do I close my account?" is a question once closing it is not asked.
    """
    near = {m.id: m for m in ranked}
    left = 1.0 - sum(float(p) for name, p in zip(names, probabilities, strict=True) if name in set_aside)
    scale = 1.0 / left if set_aside and left > 1e-6 else 1.0
    scored = [
        replace(near[name], score=min(1.0, float(p) * scale))
        for name, p in zip(names, probabilities, strict=True)
        if name in near
    ]
    return sorted(scored, key=lambda m: m.score, reverse=True)


_HOW_TO = re.compile(
    r"^\W*(?:\w+[,!]?\s+){0,3}?(?:how (?:do|does|can|would|should) (?:i|we|you|it|an?|the|exchanges?|returns?|swaps?)\b"
    r"|what(?:'?s| is| are) (?:the |my |your )?(?:options|process|steps|next steps?|difference|cutoff)\b"
    r"|(?:what|which) \w+ options\b)",
    re.I,
)


def _is_question(segment: str) -> bool:
    """A sentence or clause asked as a question, by its form."""
    return segment.rstrip().endswith("?")


def _asks_how_to(segment: str) -> bool:
    """A question on how to do something or what the options are: it asks for instructions."""
    return _is_question(segment) and bool(_HOW_TO.search(segment))


_FIRST_PERSON = re.compile(
    r"^\W*(?:(?:hi|hello|hey|so|ok|okay|well|also|and|but)\W+)*(?:i|i'd|i'm|i've|i'll|we|we'd|we're|we've|my|our|need)\b",
    re.I,
)
_ASKS_YOU = re.compile(r"\b(?:please|pls|you to|can you|could you|would you|will you)\b", re.I)


def _tells_a_wish(segment: str) -> bool:
    """A statement in the requester's own person ("I'd like to swap it", "need it by Friday"), asking nobody to act."""
    return not _is_question(segment) and bool(_FIRST_PERSON.search(segment)) and not _ASKS_YOU.search(segment)


_MAY_I = re.compile(
    r"^\W*(?:(?:hi|hello|hey|so|ok|okay|also|and|but)\W+)*"
    r"(?:(?:can|could|may|do|should) (?:i|we)\b|is it possible\b|is there (?:a|any) way\b|am i able\b|are we able\b)",
    re.I,
)


def _is_its_subject(segment: str) -> bool:
    """What a how-to question beside it asks about: a wish told, or whether the requester may ("Could I swap it?")."""
    asks_if_may = _is_question(segment) and bool(_MAY_I.search(segment)) and not _ASKS_YOU.search(segment)
    return _tells_a_wish(segment) or asks_if_may


_HANDS_OFF = re.compile(
    r"\b(?:(?:do not|don'?t|dont)\s+(?:want (?:you|u) to\s+)?(?:touch|change|do|fix|grant)\s+(?:anything|a thing|it|that|this)"
    r"|not asking (?:you|u) to|no action|no changes?(?!\s+to\b)|hands off|just curious|hypothetical(?:ly)?)\b",
    re.I,
)
"""Words saying not to act ("don't touch anything", "I don't want you to grant anything", "just curious"); not "no changes to X"."""
_BUT_FOR = re.compile(r"\b(?:else|otherwise|besides|apart from|except|other than|but for)\b", re.I)
"""Words that leave something out of a hands-off clause ("nothing else", "no changes otherwise"): an act stands."""
_ASKS_ABOUT = re.compile(
    r"^\W*(?:(?:so|and|but|ok|okay|also|just|hypothetically|honestly)\W+)*"
    r"(?:would|could|will|is|are|does|do|did|what|how|which|can|should|when|why|where|if|tell me|let me know)\b",
    re.I,
)


def _keeps_hands_off(clause: str) -> bool:
    """A clause saying not to act that leaves nothing out ("don't touch anything", not "... apart from that")."""
    return bool(_HANDS_OFF.search(clause)) and not _BUT_FOR.search(clause)


def _asks_about(clause: str) -> bool:
    """A question by its form ("would a restart help", "tell me ..."), whoever it asks."""
    return _is_question(clause) or bool(_ASKS_ABOUT.search(clause))


def _asks_anyone_to_act(text: str) -> bool:
    """Whether the words ask someone to act ("can you", "please"); "not asking you to" asks nobody."""
    return bool(_ASKS_YOU.search(_HANDS_OFF.sub(" ", text)))


def says_hands_off(text: str) -> bool:
    """Whether the requester says not to act at all and asks something instead.

    "would a restart help? don't touch anything" asks about a restart; "roll it back, no changes
    otherwise" and "restart it, hands off everything apart from that" ask for one.
    """
    clauses = _clauses(text)
    return any(_keeps_hands_off(c) for c in clauses) and any(_asks_about(c) for c in clauses)


def _hands_off_subject(segment: str, index: int, text: str) -> bool:
    """Whether the acts a hands-off request names are, in this part, what it asks about rather than for.

    The whole request, unless it asks anyone to act ("can you ...", "please"); a question by its form that
    asks nobody to act ("would a restart help"); the words against acting themselves.
    """
    if index == 0:
        return not _asks_anyone_to_act(text)
    return (_asks_about(segment) and not _asks_anyone_to_act(segment)) or _keeps_hands_off(segment)


def _asks_how_to_in(text: str) -> bool:
    """Whether a sentence or clause of the request asks how to do something ("How do I do that?" included).

    `segments` drops a clause without an informative word, so the clauses are read here as written.
    """
    return any(_asks_how_to(clause) for clause in _clauses(text))


def _gives_go_ahead(segment: str, index: int) -> bool:
    """A clause of a longer request (not the whole of it) that says to act on a condition, not a question."""
    return index > 0 and not _is_question(segment) and bool(_GO_AHEAD.search(segment))


def _likely(policy: Policy, match: IntentMatch, *, whole: bool, routine: float) -> bool:
    """The classifier's reading counts when it is likely enough.

    On the whole request, an intent stricter than auto counts at a lower bar (in doubt, the stricter
    reading); a sentence or clause alone ("What should I check first?") says too little for that, and
    counts as stricter only when it leads the clause's routine readings (`routine`, their summed
    probability) by `part_lead`: a clause of context beside a question ("I ordered the rug in the wrong
    size") spreads its probability, an ask ("if it's bad just restart it") does not.
    """
    reading = policy.intent_reading
    stricter = ROUTE_ORDER.index(policy.intents[match.id].route) > ROUTE_ORDER.index("auto")
    if whole:
        return match.score >= (reading.stricter_probability if stricter else reading.min_probability)
    return match.score >= reading.min_probability and (not stricter or match.score - routine >= reading.part_lead)


def _counts(policy: Policy, top: IntentMatch, ranked: list[IntentMatch]) -> bool:
    """The closest intent counts when it reaches its bar and leads every milder intent by the margin."""
    intent = policy.intents[top.id]
    if top.score < (intent.min_score if intent.min_score is not None else policy.intent_min_score):
        return False
    # The lead is measured on meaning alone: shared words must not carry a request into a stricter intent.
    level = ROUTE_ORDER.index(intent.route)
    milder = [m.semantic for m in ranked if ROUTE_ORDER.index(policy.intents[m.id].route) < level]
    return not milder or top.semantic - max(milder) >= policy.intent_min_margin


def request_intents(policy: Policy, text: str, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """`classify`, unless `known` already holds the result for this very text (a reviewer's edit re-check)."""
    if known and known.get("text_hash") == value_hash(text) and "matches" in known:
        return known
    return classify(policy, text)


def floor(intent: Intent, facts: dict[str, Any]) -> tuple[str, str]:
    """The intent's minimum route given the facts (`when` conditions, else `otherwise`), and why."""
    holds = all(
        rule_holds(Rule(id="when", fact=c.fact, op=c.op, value=c.value, outcome="info", rule=""), facts)
        for c in intent.when
    )
    return (intent.route, intent.rule) if holds else (intent.otherwise, intent.otherwise_rule or intent.rule)


def intent_checks(policy: Policy, found: dict[str, Any], facts: dict[str, Any], action: str | None) -> list[Check]:
    """One check per intent found: failed (with the intent's minimum route as its outcome) unless it allows auto.

    The check's rule says whether the proposal does what the request asks: a proposal that does not
    address a request needing review is named as such, so the reviewer sees the gap.
    """
    checks = []
    unread = policy.intent_reading.unread_route
    if ROUTE_ORDER.index(unread) > ROUTE_ORDER.index("auto"):  # a policy may let what it cannot read through
        if found.get("unread"):
            closest = ", ".join(f"{m['id']} ({m['score']:.2f})" for m in found.get("nearest") or []) or "none"
            checks.append(Check("intent_unread", False, unread, UNREAD_RULE, f"closest known requests: {closest}"))
        elif asks := found.get("unread_asks"):
            said = "; ".join(f"\u201c{ask[:120]}\u201d" for ask in asks)
            checks.append(Check("intent_unread_ask", False, unread, UNREAD_ASK_RULE, said))
    for match in found.get("matches") or []:
        intent = policy.intents.get(match["id"])
        if intent is None:
            continue
        minimum, why = floor(intent, facts)
        detail = f"the request reads as {match['id']} ({match['score']:.2f}): \u201c{match['segment'][:200]}\u201d"
        if minimum == "block" and match.get("tentative"):
            checks.append(Check(f"intent_{match['id']}", False, "review", f"{TENTATIVE}: {why}", detail))
            continue
        if ROUTE_ORDER.index(minimum) <= ROUTE_ORDER.index("auto"):
            checks.append(Check(f"intent_{match['id']}", True, "info", why, detail))
            continue
        if minimum == "block" or action in intent.actions:
            rule = why
        else:
            rule = f"the proposal ({action or 'no action'}) does not address a request that needs {minimum}: {why}"
        checks.append(Check(f"intent_{match['id']}", False, minimum, rule, detail))
    return checks


def offline_reading(policy: Policy, text: str, found: dict[str, Any] | None = None) -> tuple[str | None, bool]:
    """How the offline models read a request: the signal the validator uses, from one classification.

    Returns the intent with the strictest minimum route among those an action does (then the closest),
    or None; and whether the request reads only as routine (a question, a status check) and as nothing
    that needs a person: the models answer such a request instead of acting on a keyword it happens to
    contain ("how do refunds work?" is answered, not refunded). `found`: the classification, when the
    caller has it already.
    """
    found = found if found is not None else classify(policy, text)
    matches = found["matches"]
    strongest = next((str(m["id"]) for m in _strictest_first(policy, matches) if policy.intents[m["id"]].actions), None)
    return strongest, reads_only_as_routine(policy, found)


def reads_only_as_routine(policy: Policy, found: dict[str, Any]) -> bool:
    """Whether a reading (`classify`'s result) finds intents, and only ones that need no person."""
    matches = found.get("matches") or []
    return bool(matches) and all(policy.intents[m["id"]].route == "auto" for m in matches)


def actions_asked(policy: Policy, text: str) -> list[str]:
    """The actions that do what the request's intents ask, strictest intent first (then the closest)."""
    found = _strictest_first(policy, classify(policy, text)["matches"])
    return list(dict.fromkeys(action for m in found for action in policy.intents[m["id"]].actions))


def _strictest_first(policy: Policy, matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Matches by their intent's minimum route, strictest first, then by score (ties keep their order)."""
    return sorted(matches, key=lambda m: (ROUTE_ORDER.index(policy.intents[m["id"]].route), m["score"]), reverse=True)
