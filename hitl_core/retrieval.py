"""Retrieval over the shipped knowledge files, with scores that mean something.

Ranking is BM25 (the `bm25s` library). The score reported with each hit is the IDF-weighted share
of the query's informative words that the document contains (discounted for queries of fewer
than four such words): 1.0 means a substantial query is fully covered, so the score can serve as
a retrieval-quality signal. Where a caller asks for it (`semantic=True`), sentence embeddings
add a second view: a paraphrase that shares no word with the right document still finds it.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from hitl_core import embeddings

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "i'd",
        "i'm",
        "i've",
        "if",
        "in",
        "into",
        "is",
        "it",
        "it's",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "us",
        "can't",
        "don't",
        "just",
        "get",
        "got",
        "any",
        "some",
        "am",
        "want",
        "like",
        "need",
        "also",
        "too",
        "very",
        "again",
        "about",
        "after",
        "before",
        "up",
        "out",
        "over",
    ]
)
FILLER = frozenset(
    """hi hello hey thanks thank thx pls please guys folks someone somebody anyone rather really actually
    maybe quick question wondering know think today yesterday tomorrow ago min mins
    still already ok okay lol btw myself yourself itself thing things stuff bit lot one two three
    i'll you're it'll that's there's what's""".split()  # noqa: SIM905
)
"""Conversational filler: it carries no topic, so it neither matches nor dilutes a query."""
STOPWORDS = STOPWORDS | FILLER


SYNONYMS = {
    "colour": "color",
    "parcel": "package",
    "delivery": "shipping",
    "deliver": "shipping",
    "ship": "shipping",
    "cancellation": "cancel",
    "login": "password",
    "signin": "password",
    "germany": "international",
    "france": "international",
    "spain": "international",
    "italy": "international",
    "netherlands": "international",
    "europe": "international",
    "eu": "international",
    "uk": "international",
    "abroad": "international",
    "overseas": "international",
}
"""Query and document words mapped to the word the help center uses (applied before stemming)."""


def tokens(text: str) -> list[str]:
    """Lowercased, lightly stemmed content words."""
    return [_stem(SYNONYMS.get(w, w)) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def _stem(word: str) -> str:
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, keep in (("ies", "y"), ("ves", "f"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if suffix == "s" and word.endswith("ss"):
            break
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: len(word) - len(suffix)] + keep
            break
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


@dataclass(frozen=True)
class Document:
    """One retrievable item: its id, title, text and the original record."""

    id: str
    title: str
    text: str
    record: dict[str, Any]


class Index:
    """BM25 (the `bm25s` library) over a fixed document set, with a coverage score that means something.

    With `semantic`, each document also gets the cosine similarity of its sentence embedding to the
    query's (`hitl_core.embeddings`): a paraphrase that shares no word with the right document
    still finds it, and the reported score is the better of the two views. With `passages` (one list
    per document, such as a policy's clauses), a document's similarity is its closest passage's when
    that is closer than the whole: a question on one clause of a long policy is not diluted by the rest.
    """

    def __init__(
        self,
        documents: list[Document],
        k1: float = 1.4,
        b: float = 0.6,
        *,
        semantic: bool = False,
        passages: list[list[str]] | None = None,
    ) -> None:
        import bm25s

        self.documents = documents
        self.semantic = semantic
        self._passages = passages
        corpus = [tokens(d.title + " " + d.title + " " + d.text) for d in documents]
        self._terms = [set(terms) for terms in corpus]
        self._bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        self._bm25.index(corpus, show_progress=False)
        df: Counter[str] = Counter()
        for terms in self._terms:
            df.update(terms)
        n = len(documents)
        # Coverage weights use BM25's (Lucene) IDF, the one the ranking uses.
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        self._vectors: Any = None
        self._passage_vectors: Any = None
        self._passage_owner: Any = None

    def _semantic_scores(self, query: str) -> list[float]:
        """Per document, the scaled similarity of its title and text (or closest passage) to the query.

        Everything is embedded on first use.
        """
        if self._vectors is None:
            # The passages first: a thread that sees the document vectors set sees the passages' too.
            if self._passages:
                flat = [passage for passages in self._passages for passage in passages]
                self._passage_owner = np.array([i for i, passages in enumerate(self._passages) for _ in passages])
                self._passage_vectors = embeddings.embed_fixed(flat) if flat else None
            self._vectors = embeddings.embed_fixed([f"{d.title}. {d.text}" for d in self.documents])
        vector = embeddings.embed([query])[0]
        similarity = self._vectors @ vector
        if self._passage_vectors is not None:
            np.maximum.at(similarity, self._passage_owner, self._passage_vectors @ vector)
        return [semantic_score(float(c)) for c in similarity]

    def search(self, query: str, k: int = 4) -> list[tuple[Document, float, float]]:
        """Top k as (document, score in [0, 1], raw BM25), best first.

        The lexical score is the IDF-weighted share of the query's informative words a document
        contains (discounted for queries of fewer than four such words): 1.0 means a substantial
        query is fully covered. With `semantic`, the score is the better of that and the scaled
        embedding similarity, and documents are ranked by it, nudged by their BM25 (`WORDS_TIEBREAK`).
        """
        q = list(dict.fromkeys(tokens(query)))
        if not q:
            return []
        known = [self.idf[t] for t in q if t in self.idf]
        # A word the corpus never uses is usually incidental (a name, a typo): half an average weight.
        unknown_weight = 0.5 * (sum(known) / len(known)) if known else self._unknown_idf
        weights = {t: self.idf.get(t, unknown_weight) for t in q}
        total_weight = sum(weights.values())
        # Two words matched say less than six: short queries cannot earn a full score.
        brevity = min(1.0, len(q) / 4)
        in_vocabulary = [t for t in q if t in self.idf]
        bm25 = self._bm25.get_scores(in_vocabulary) if in_vocabulary else [0.0] * len(self.documents)
        meaning = self._semantic_scores(query) if self.semantic else None
        scored = []
        for i, terms in enumerate(self._terms):
            covered = sum(weights[t] for t in q if t in terms)
            lexical = brevity * covered / total_weight
            score = max(lexical, meaning[i]) if meaning is not None else lexical
            if bm25[i] > 0 or (meaning is not None and meaning[i] > 0):
                scored.append((self.documents[i], score, float(bm25[i])))
        if meaning is not None:
            # Scores a few hundredths apart say little; the query's own words then decide (at most a tenth).
            scored.sort(key=lambda item: item[1] + WORDS_TIEBREAK * min(item[2], 5.0), reverse=True)
        else:
            scored.sort(key=lambda item: (item[2], item[1]), reverse=True)
        return scored[:k]


WORDS_TIEBREAK = 0.02
"""Per unit of BM25 (up to 5), what a document's words add to its score for ranking, never to the score itself."""
SEMANTIC_FLOOR = 0.30
SEMANTIC_FULL = 0.70


def semantic_score(cosine: float) -> float:
    """Embedding similarity on the coverage scale: below 0.30 unrelated (0), from 0.70 a full match (1)."""
    return min(1.0, max(0.0, (cosine - SEMANTIC_FLOOR) / (SEMANTIC_FULL - SEMANTIC_FLOOR)))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL knowledge file (each agent ships its own, beside its graph)."""
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=32)
def index_for(
    path: Path, title_field: str, text_fields: tuple[str, ...], semantic: bool = False, passage_field: str | None = None
) -> Index:
    """A cached index over one knowledge file (`passage_field`: the list field whose items are its passages)."""
    records = read_jsonl(path)
    documents = [
        Document(
            id=str(r["id"]),
            title=str(r.get(title_field, "")),
            text=" ".join(_flatten(r.get(f, "")) for f in text_fields),
            record=r,
        )
        for r in records
    ]
    passages = (
        [[_passage_text(item) for item in r.get(passage_field) or []] for r in records] if passage_field else None
    )
    return Index(documents, semantic=semantic, passages=passages)


def _passage_text(item: Any) -> str:
    """A passage's words: a clause's `text` where it has one (its reference carries no meaning)."""
    return str(item["text"]) if isinstance(item, dict) and "text" in item else _flatten(item)


def _flatten(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_flatten(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_flatten(v) for v in value.values())
    return str(value)


def evidence(
    path: Path,
    query: str,
    *,
    source: str,
    title_field: str,
    text_fields: tuple[str, ...],
    snippet_field: str,
    k: int = 3,
    semantic: bool = False,
    passage_field: str | None = None,
) -> list[dict[str, Any]]:
    """Scored evidence items for the review screen and the confidence signals.

    `semantic`: hybrid scores; `passage_field`: documents are also compared passage by passage.
    """
    index = index_for(path, title_field, text_fields, semantic, passage_field)
    return [
        {
            "source": source,
            "id": doc.id,
            "title": doc.title,
            "snippet": _flatten(doc.record.get(snippet_field, ""))[:400],
            "score": round(coverage, 3),
            "bm25": round(bm25, 3),
            "record": doc.record,
        }
        for doc, coverage, bm25 in index.search(query, k)
    ]


def search_call(
    name: str,
    query: str,
    hits: list[dict[str, Any]],
    *,
    titles: bool = False,
    empty: str = "no match",
    **args: Any,
) -> dict[str, Any]:
    """The record of a retrieval tool call, as the reviewer sees it among the tool calls made."""
    shown = [f"{e['id']}{' ' + e['title'] if titles else ''} ({e['score']:.2f})" for e in hits]
    return {"name": name, "args": {"query": query[:200], **args}, "result": ", ".join(shown) or empty}
