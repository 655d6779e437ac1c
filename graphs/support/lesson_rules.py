"""The support agent's known remedies: for reviewers' feedback of an (action, category), the rule a lesson proposes.

`hitl lessons propose` turns repeated feedback into a lesson; where the support agent knows what
such feedback usually means, the lesson comes with a rule in the policy's own rule language.
"""

from __future__ import annotations

from typing import Any

LESSON_RULES: dict[tuple[str | None, str], dict[str, Any]] = {
    ("refund", "suspected_fraud"): {
        "fact": "fraud.prior_refunds",
        "op": ">=",
        "value": 1,
        "outcome": "escalate",
        "rule": "Refunds to customers with an earlier refund go to the support lead (reviewers flagged fraud)",
        "actions": ["refund"],
    },
    ("refund", "policy_violation"): {
        "fact": "order.days_since_delivery",
        "op": ">",
        "value": 25,
        "outcome": "escalate",
        "rule": "Refunds close to the end of the return window go to the support lead (reviewers flagged policy)",
        "actions": ["refund"],
    },
    ("reply", "insufficient_evidence"): {
        "fact": "evidence.answer_score",
        "op": "<",
        "value": 0.5,
        "outcome": "review",
        "rule": "Answers neither read from a record nor from a help article covering half of the request are reviewed",
        "actions": ["reply"],
    },
}
