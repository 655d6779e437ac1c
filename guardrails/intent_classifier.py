"""A linear classifier over the intents' example embeddings: how likely a sentence is each intent.

Trained on every intent's labelled examples at once (multinomial logistic regression, scikit-learn),
so that the topic twins (a plain question beside each risky request on the same topic) teach it the
directions in which a request differs from a question, rather than the topic both share. Its weights
are kept in the embedding cache, keyed by the examples' vectors and the regularisation, so only the
first process on a machine trains it (under a second for 1,000 examples).
"""

from __future__ import annotations

import hashlib

import numpy as np

from hitl_core import embeddings


class IntentClassifier:
    """Softmax over a linear map of a sentence's embedding, one class per intent."""

    def __init__(self, names: list[str], weights: np.ndarray) -> None:
        self.names = names
        self._weights = weights[:, :-1]
        self._bias = weights[:, -1]

    @classmethod
    def trained(
        cls, names: list[str], labels: list[str], vectors: np.ndarray, regularisation: float
    ) -> IntentClassifier:
        """The classifier for these examples (`labels[i]` names the intent of `vectors[i]`)."""
        digest = hashlib.sha256(
            np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
            + "\0".join(labels).encode()
            + "\0".join(names).encode()
            + repr(regularisation).encode()
        ).hexdigest()[:24]

        def fit() -> np.ndarray:
            from sklearn.linear_model import LogisticRegression  # only when no process has trained it yet

            if len(names) == 1:  # one intent: every sentence that comes near it is it
                return np.zeros((1, vectors.shape[1] + 1))
            targets = np.array([names.index(label) for label in labels])
            model = LogisticRegression(C=regularisation, max_iter=5000).fit(vectors, targets)
            weights = np.hstack([model.coef_, model.intercept_[:, None]]).astype(np.float64)
            if len(names) == 2:  # scikit-learn keeps one row for two classes: the second's log-odds
                weights = np.vstack([np.zeros_like(weights), weights])
            return weights

        return cls(names, embeddings.stored(f"intent-classifier-{digest}", fit, rows=len(names)))

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """One row per vector: the probability of each intent, in the order of `names`."""
        logits = np.asarray(vectors, dtype=np.float64) @ self._weights.T + self._bias
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        probabilities: np.ndarray = odds / odds.sum(axis=1, keepdims=True)
        return probabilities
