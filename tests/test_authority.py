"""Who may decide a review and who may undo an action: one rule each, shared by the runtime, the app and the simulation."""

import pytest

from hitl_core.errors import BadInput
from hitl_core.reviews import decide_refusal
from hitl_core.users import User
from hitl_runtime.agents import agent_policy

REVIEW = {"requester": "alice", "required_roles": ["support_agent", "support_lead"]}


def test_decide_refusal_names_the_first_reason_or_none():
    assert decide_refusal(User("alice", ("support_agent",)), REVIEW) == "own_request"
    assert decide_refusal(User("bob", ("ops_engineer",)), REVIEW) == "no_role"
    assert decide_refusal(User("bob", ("support_lead",)), REVIEW) is None


def test_rollback_roles_are_the_action_tiers_and_the_escalation_path():
    policy = agent_policy("support")
    assert policy.rollback_roles("change_account_status") == ["compliance_officer", "support_lead"]
    with pytest.raises(BadInput, match="no action"):
        policy.rollback_roles("launch_rocket")
