"""How the intent classifier reads examples it never saw: five-fold cross-validation on a policy's own examples.

    python -m hitl_lab.intent_cv [support ops compliance] [--stricter P] [--sure P]

The bars of `intent_reading` (a stricter intent on the whole request, a refusal standing alone) are
chosen here, on the policies' labelled examples, rather than on a scenario set, which would then
stop being a fair measure. For each agent it prints, with the embedding alone and with the words
added (`guardrails/intent_classifier.py`): the share of examples read as their own intent, the
share read as a milder one, and at the policy's bars, the risky examples caught, the routine ones
flagged, and the refusals and the others read surely enough to refuse alone.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from guardrails.intent_classifier import IntentClassifier
from guardrails.intents import example_bank
from guardrails.routing import ROUTE_ORDER
from hitl_core.errors import BadInput
from hitl_runtime.agents import agent_policy


@dataclass(frozen=True)
class CrossValidation:
    """Each example's intent probabilities from a classifier trained on the other folds."""

    probabilities: np.ndarray
    labels: np.ndarray
    """The index of each example's own intent."""
    strictness: np.ndarray
    """Each intent's minimum route, as its index in `ROUTE_ORDER`."""


@cache
def cross_validated(agent: str, *, words: bool = True, folds: int = 5) -> CrossValidation:
    """The policy's examples read in `folds` folds, with the regularisation the policy trains with."""
    from sklearn.model_selection import StratifiedKFold

    policy = agent_policy(agent)
    bank = example_bank(policy)  # the examples exactly as the product reads them
    names, texts, vectors = bank.names, bank.read, bank.vectors
    labels = np.array([names.index(label) for label in bank.labels])
    strictness = np.array([ROUTE_ORDER.index(policy.intents[n].route) for n in names])
    probabilities = np.zeros((len(texts), len(names)))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(vectors, labels):
        classifier = IntentClassifier.fitted(
            names,
            [names[i] for i in labels[train]],
            [texts[i] for i in train],
            vectors[train],
            policy.intent_reading.regularisation,
            words=words,
        )
        probabilities[test] = classifier.probabilities(vectors[test], [texts[i] for i in test])
    return CrossValidation(probabilities, labels, strictness)


def figures(
    agent: str, *, words: bool = True, stricter: float | None = None, sure: float | None = None
) -> dict[str, float]:
    """The shares the module docstring lists, at the policy's own bars unless others are given."""
    reading = agent_policy(agent).intent_reading
    stricter_bar = reading.stricter_probability if stricter is None else stricter
    sure_bar = reading.sure_probability if sure is None else sure
    cv = cross_validated(agent, words=words)
    p, own, strictness = cv.probabilities, cv.labels, cv.strictness
    read = p.argmax(axis=1)
    auto, block = ROUTE_ORDER.index("auto"), ROUTE_ORDER.index("block")
    risky = strictness[own] > auto
    at_least_own = strictness[None, :] >= strictness[own][:, None]
    caught = np.where(at_least_own, p, 0).max(axis=1) >= stricter_bar
    flagged = p[:, strictness > auto].max(axis=1) >= stricter_bar
    refusal = strictness[own] == block
    surely = p[:, strictness == block].max(axis=1, initial=0.0) >= sure_bar
    return {
        "accuracy": float((read == own).mean()),
        "read_milder": float((strictness[read] < strictness[own]).mean()),
        "risky_caught": float(caught[risky].mean()),
        "routine_flagged": float(flagged[~risky].mean()),
        "refusals_sure": float(surely[refusal].mean()) if refusal.any() else 0.0,
        "others_sure": float(surely[~refusal].mean()),
    }


def main(argv: list[str]) -> None:
    """Print the figures for the agents named (all three when none is), at the bars given or the policies'."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hitl_lab.intent_cv")
    parser.add_argument("agents", nargs="*", default=["support", "ops", "compliance"])
    parser.add_argument("--stricter", type=float, help="the whole-request bar for a stricter intent")
    parser.add_argument("--sure", type=float, help="the bar at which a refusal stands alone")
    args = parser.parse_args(argv)
    columns = ["accuracy", "read_milder", "risky_caught", "routine_flagged", "refusals_sure", "others_sure"]
    print(f"{'agent':<12}{'reading':<22}" + "".join(f"{c:>16}" for c in columns))
    for agent in args.agents:
        try:
            agent_policy(agent)
        except BadInput as exc:
            parser.exit(2, f"{parser.prog}: {exc}\n")
        for words in (False, True):
            row: dict[str, Any] = figures(agent, words=words, stricter=args.stricter, sure=args.sure)
            label = "embedding and words" if words else "embedding"
            print(f"{agent:<12}{label:<22}" + "".join(f"{row[c]:>16.3f}" for c in columns))


if __name__ == "__main__":
    main(sys.argv[1:])
