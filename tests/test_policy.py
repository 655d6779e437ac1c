"""Policy files: the shipped ones load; a broken one fails with one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails.policy import load_policy, parse_policy
from hitl_core.errors import BadInput
from hitl_runtime.agents import agent_policy, shipped_policy_files

SHIPPED = shipped_policy_files()

SUPPORT = SHIPPED["support"].read_text()


@pytest.mark.parametrize("agent", sorted(SHIPPED))
def test_shipped_policies_load(agent: str) -> None:
    policy = load_policy(agent, own_file=SHIPPED[agent])
    assert policy.agent == agent
    assert policy.escalation_path


def _error(text: str) -> str:
    with pytest.raises(BadInput) as info:
        parse_policy(text, "support.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_invalid_yaml_names_the_line() -> None:
    assert _error("agent: support\nthresholds: [1, 2\n").startswith("support.yaml: line")


def test_missing_field_is_named() -> None:
    assert "thresholds: Field required" in _error(SUPPORT.replace("thresholds:", "thresholdz:", 1))


def test_a_new_role_is_the_policys_own_and_a_malformed_one_is_named() -> None:
    own = parse_policy(SUPPORT.replace("roles: [support_lead]}", "roles: [support_boss]}", 1), "support.yaml")
    assert "support_boss" in own.reviewer_roles()  # roles come from the policies: a new one exists
    message = _error(SUPPORT.replace("roles: [support_lead]}", "roles: [Support Boss!]}", 1))
    assert "escalation_path.0" in message and "Support Boss!" in message


def test_silence_never_approves_by_default() -> None:
    assert "expiry_fallback" in _error(SUPPORT.replace("expiry_fallback: reject", "expiry_fallback: approve"))


def test_approve_on_expiry_only_for_low_risk_reversible() -> None:
    risky = SUPPORT.replace("    base_risk: 0.40\n", "    base_risk: 0.40\n    expiry_fallback: approve\n")
    assert "approve-on-expiry" in _error(risky)
    safe = SUPPORT.replace(
        "  reopen_ticket:\n    review: on_exception\n",
        "  reopen_ticket:\n    review: on_exception\n    expiry_fallback: approve\n",
    )
    assert parse_policy(safe).fallback("reopen_ticket") == "approve"


def test_irreversible_action_requires_two_approvers() -> None:
    text = SUPPORT.replace(
        "  refund:\n    review: always\n    reversible: true", "  refund:\n    review: always\n    reversible: false"
    )
    assert "approvals >= 2" in _error(text)


def test_tiers_must_be_ordered() -> None:
    text = SUPPORT.replace("max_amount: 200}", "max_amount: 5000}")
    assert "ordered by max_amount" in _error(text)


def test_rules_must_name_known_actions() -> None:
    text = SUPPORT.replace("    actions: [reply]\n", "    actions: [teleport]\n", 1)
    assert "unknown action 'teleport'" in _error(text)


def test_broken_policy_file_on_disk(policy_dir: Path) -> None:
    (policy_dir / "support.yaml").write_text("agent: support\nversion: zero\n")
    with pytest.raises(BadInput, match="version: Input should be a valid integer"):
        agent_policy("support")


# -- dismissing a review (the `ignore` decision) ------------------------------------------------------
REFUND = "  refund:\n    review: always\n"


def test_no_action_may_be_dismissed_unless_its_policy_says_so() -> None:
    silent = "".join(line for line in SUPPORT.splitlines(keepends=True) if "ignore_roles:" not in line)
    policy = parse_policy(silent)
    assert all(not policy.ignore_roles(name) for name in policy.actions)


def test_the_shipped_policies_allow_dismissing_only_housekeeping() -> None:
    allowed = {
        agent: {name: policy.ignore_roles(name) for name in policy.actions if policy.ignore_roles(name)}
        for agent, policy in ((a, agent_policy(a)) for a in ("support", "ops", "compliance"))
    }
    assert allowed == {
        "support": {
            "close_ticket": ["support_agent", "support_lead"],
            "reopen_ticket": ["support_agent", "support_lead"],
        },
        "ops": {"scale_service": ["sre", "ops_lead"]},
        "compliance": {},
    }


def test_ignore_roles_are_offered_at_a_tier_only_where_they_meet_its_roles() -> None:
    policy = parse_policy(SUPPORT.replace(REFUND, REFUND + "    ignore_roles: [support_lead]\n"))
    assert policy.may_be_ignored("refund", ["support_agent", "support_lead"])
    assert policy.may_be_ignored("refund", ["support_lead"])
    assert not policy.may_be_ignored("refund", ["compliance_officer"])
    assert not policy.may_be_ignored("change_account_status", ["support_lead"])


def test_ignore_roles_must_be_a_list_of_roles_that_may_decide_the_action() -> None:
    assert "actions.refund.ignore_roles: Input should be a valid list" in _error(
        SUPPORT.replace(REFUND, REFUND + "    ignore_roles: support_lead\n")
    )
    malformed = _error(SUPPORT.replace(REFUND, REFUND + "    ignore_roles: [Support Lead!]\n"))
    assert malformed.startswith("support.yaml: actions.refund.ignore_roles: invalid role name 'Support Lead!'")
    assert _error(SUPPORT.replace(REFUND, REFUND + "    ignore_roles: [end_user]\n")) == (
        "support.yaml: (top level): actions.refund.ignore_roles: end_user may not decide refund "
        "(its tiers and the escalation path name compliance_officer, support_agent, support_lead)"
    )
