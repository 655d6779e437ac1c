"""A linear classifier over the intents' examples: how likely a sentence is each intent.

Trained on every intent's labelled examples at once (multinomial logistic regression, scikit-learn),
so that the topic twins (a plain question beside each risky request on the same topic) teach it the
directions in which a request differs from a question, rather than the topic both share. A sentence
is read by its embedding and by its words and word pairs (`WordFeatures`): the embedding carries the
topic, and the function words that tell an ask from a question ("how do I", "can you", "please")
weigh little in it. Five-fold cross-validation on the shipped examples gave 0.87 to 0.90 (support),
0.82 to 0.86 (ops) and 0.88 to 0.91 (compliance) with the words added. The weights are kept in the
embedding cache, keyed by the examples and the regularisation, so only the first process on a
machine trains it (about a second for 1,000 examples).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from itertools import pairwise

import numpy as np

from hitl_core import embeddings

_WORD = re.compile(r"\b\w\w+\b")


class WordFeatures:
    """TF-IDF of a sentence's words and adjacent word pairs, over the terms at least two examples share.

    Stop words stay: they are what carries the request's form. Built from the examples alone, so every
    process derives the same vocabulary and only the classifier's weights need caching.
    """

    def __init__(self, examples: list[str]) -> None:
        frequency = Counter(term for text in examples for term in set(_terms(text)))
        vocabulary = sorted(term for term, count in frequency.items() if count >= 2)
        self.index = {term: i for i, term in enumerate(vocabulary)}
        total = len(examples)
        self.idf = np.array([math.log((1 + total) / (1 + frequency[t])) + 1 for t in vocabulary])

    def __len__(self) -> int:
        return len(self.index)

    def transform(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised row per text (sublinear term frequency times inverse document frequency)."""
        out = np.zeros((len(texts), len(self.index)))
        for row, text in enumerate(texts):
            for term, count in Counter(_terms(text)).items():
                column = self.index.get(term)
                if column is not None:
                    out[row, column] = (1 + math.log(count)) * self.idf[column]
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


def _terms(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    return words + [f"{a} {b}" for a, b in pairwise(words)]


class IntentClassifier:
    """Softmax over a linear map of a sentence's embedding and words, one class per intent."""

    def __init__(self, names: list[str], weights: np.ndarray, words: WordFeatures | None) -> None:
        self.names = names
        self.words = words
        """None: the embedding alone is read (`hitl_lab/intent_cv.py` compares the two)."""
        self._weights = weights[:, :-1]
        self._bias = weights[:, -1]

    @classmethod
    def trained(
        cls, names: list[str], labels: list[str], texts: list[str], vectors: np.ndarray, regularisation: float
    ) -> IntentClassifier:
        """The classifier for these examples (`labels[i]` names the intent of `texts[i]`, embedded as `vectors[i]`).

        Its weights come from the cache when a process has trained it already.
        """
        words = WordFeatures(texts)
        digest = hashlib.sha256(
            np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
            + "\0".join(labels).encode()
            + "\0".join(texts).encode()
            + "\0".join(names).encode()
            + "\0".join(words.index).encode()  # the terms read: weights stored for other terms would misread
            + repr(regularisation).encode()
        ).hexdigest()[:24]
        weights = embeddings.stored(
            f"intent-classifier-{digest}",
            lambda: _fit(names, labels, _features(vectors, texts, words), regularisation),  # only when not cached
            rows=len(names),
        )
        return cls(names, weights, words)

    @classmethod
    def fitted(
        cls,
        names: list[str],
        labels: list[str],
        texts: list[str],
        vectors: np.ndarray,
        regularisation: float,
        *,
        words: bool = True,
    ) -> IntentClassifier:
        """The same classifier trained now, uncached, with or without the words (for cross-validation)."""
        reader = WordFeatures(texts) if words else None
        return cls(names, _fit(names, labels, _features(vectors, texts, reader), regularisation), reader)

    def probabilities(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        """One row per sentence (`texts[i]`, embedded as `vectors[i]`): each intent's probability, in `names`' order."""
        logits = _features(vectors, texts, self.words) @ self._weights.T + self._bias
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        probabilities: np.ndarray = odds / odds.sum(axis=1, keepdims=True)
        return probabilities


def _features(vectors: np.ndarray, texts: list[str], words: WordFeatures | None) -> np.ndarray:
    """What the classifier reads of each sentence: its embedding, then its words when they are read."""
    embedded = np.asarray(vectors, dtype=np.float64)
    return embedded if words is None else np.hstack([embedded, words.transform(texts)])


def _fit(names: list[str], labels: list[str], features: np.ndarray, regularisation: float) -> np.ndarray:
    """One row of weights per intent, the bias last (multinomial logistic regression)."""
    from sklearn.linear_model import LogisticRegression  # only when no process has trained it yet

    if len(names) == 1:  # one intent: every sentence that comes near it is it
        return np.zeros((1, features.shape[1] + 1))
    targets = np.array([names.index(label) for label in labels])
    model = LogisticRegression(C=regularisation, max_iter=5000).fit(features, targets)
    weights = np.hstack([model.coef_, model.intercept_[:, None]]).astype(np.float64)
    if len(names) == 2:  # scikit-learn keeps one row for two classes: the second's log-odds
        weights = np.vstack([np.zeros_like(weights), weights])
    return weights
