"""Draft scorers: deterministic offline scores with known values, and the model-graded variant with a stand-in model."""

from __future__ import annotations

import json
from pathlib import Path

from langchain_core.messages import AIMessage

from guardrails.scorers import SCORERS, model_graded, score_draft, summarize
from hitl_core.offline_model import OfflineChatModel
from hitl_runtime.evaluation import evaluate, load_scenarios

EVIDENCE = [
    {
        "id": "kb-1",
        "title": "Refund timing",
        "snippet": "Refunds go back to the original payment method within 5-7 business days after we receive the item.",
    }
]
REQUEST = "How long does a refund take to reach my card?"
SCENARIOS = Path(__file__).parent / "scenarios"


def _scores(draft: str) -> dict[str, float]:
    return {k: v["score"] for k, v in score_draft(draft, request=REQUEST, evidence=EVIDENCE).items()}


def test_a_good_draft_scores_full_marks():
    draft = "Hi Ana, thanks for asking. Refunds go back to the original payment method within 5-7 business days."
    # Relevance: of refund, reach, card and "how long", the draft answers refund and the duration (2 of 4).
    assert _scores(draft) == {
        "relevance": 0.5,
        "faithfulness": 1.0,
        "policy_compliance": 1.0,
        "tone": 1.0,
        "safety": 1.0,
    }
    exact = "Your refund reaches your card within 5-7 business days."
    assert score_draft(exact, request=REQUEST, evidence=EVIDENCE)["relevance"]["score"] == 1.0


def test_each_scorer_catches_its_own_fault():
    off_topic = _scores("Hi Ana, thanks for asking. Our blenders come in three colours.")
    assert off_topic["relevance"] == 0.0 and off_topic["faithfulness"] == 0.0
    promise = _scores("Refunds go back to the original payment method within 5-7 business days, guaranteed.")
    assert promise["policy_compliance"] == 0.5 and promise["tone"] == 0.8  # no promise rule passes; no courtesy
    rude = _scores("As I already said, refunds go back to the original payment method within 5-7 business days.")
    assert rude["tone"] == 0.0
    unsafe = _scores("Refunds go back within 5-7 business days. <script>alert(1)</script>")
    assert unsafe["safety"] == 0.0
    half = _scores("Refunds go back to the original payment method within 5-7 business days. We add a 20% voucher.")
    assert half["faithfulness"] == 0.5


def test_summary_means():
    cases = [
        {"draft_scores": score_draft("Refunds go back within 5-7 business days.", request=REQUEST, evidence=EVIDENCE)},
        {"draft_scores": None},
        {"draft_scores": score_draft("We add a 20% voucher.", request=REQUEST, evidence=EVIDENCE)},
    ]
    out = summarize(cases)
    assert out["n"] == 2 and out["faithfulness"] == 0.5 and out["safety"] == 1.0


def _grader(reply: str) -> OfflineChatModel:
    return OfflineChatModel(responder=lambda messages, tools: AIMessage(reply))


def test_model_graded_parses_the_rubric_answer():
    good = json.dumps({name: 0.9 for name in SCORERS})
    assert model_graded(_grader(f"Here you go: {good}"), "draft", request=REQUEST, evidence=EVIDENCE) == {
        "scores": {name: 0.9 for name in SCORERS}
    }
    assert "error" in model_graded(_grader("looks fine to me"), "draft", request=REQUEST, evidence=EVIDENCE)
    assert "error" in model_graded(_grader('{"relevance": 1}'), "draft", request=REQUEST, evidence=EVIDENCE)


def test_eval_reports_draft_scores_beside_routing():
    cases = [
        c
        for c in load_scenarios(SCENARIOS / "support.jsonl", "support")
        if c.id in ("sup-x-001", "sup-x-026", "sup-x-067")
    ]
    grader = _grader(json.dumps({name: 0.5 for name in SCORERS}))
    result = evaluate("support", cases, grader="model", grader_model=grader)
    assert result["route_accuracy"] == 1.0
    assert result["draft_scores"]["n"] == 2  # the blocked injection has no draft
    assert result["draft_scores"]["safety"] == 1.0 and result["draft_scores"]["faithfulness"] == 1.0
    assert result["draft_scores_model"] == {"n": 2, "errors": 0, **{name: 0.5 for name in SCORERS}}
    case = next(c for c in result["per_case"] if c["id"] == "sup-x-001")
    assert set(case["draft_scores"]) == set(SCORERS) and case["confidence_raw"] is not None


def test_eval_command(capsys, tmp_path, monkeypatch):
    from hitl_cli.main import main

    dataset = tmp_path / "few.jsonl"
    rows = [json.loads(x) for x in (SCENARIOS / "support.jsonl").read_text().splitlines()[:3]]
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["eval", "support", "--dataset", str(dataset), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["draft_scores"]["n"] == 3 and set(SCORERS) <= set(out["draft_scores"])
    assert main(["eval", "support", "--dataset", str(dataset)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("drafts (offline): n=3 relevance=") and lines[-1].startswith(
        "support: n=3 route_accuracy=1.0"
    )
    assert main(["eval", "support", "--dataset", str(dataset), "--grader", "model"]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
