"""Metrics: the seed's evaluation metrics (`hitl metrics`) as charts, overall, over time, by agent and action.

One window (the last 24 hours to the last 365 days) applies to everything on the page: the headline,
every table and every chart count the reviews created in it, and each section's title names it.
Every rate stands beside how many decided reviews it is of, durations read in two units (`4 min
12 s`), and the chart over time uses hours, days or weeks to fit the window; the rows and words come
from `hitl_runtime.metrics_view`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from hitl_runtime import metrics_view as view
from hitl_runtime.agents import agent_policy, available_agents
from ui import services

ALL = "All agents"
# The headline's rates and their labels, in the order shown (a comment: a bare string would be shown).
HEADLINE = {
    "approval_rate": "Approval rate",
    "edit_rate": "Edit rate",
    "rejection_rate": "Rejection rate",
    "dismissal_rate": "Dismissal rate",
    "escalation_rate": "Escalation rate",
    "expiry_rate": "Expiry rate",
}


def main() -> None:
    """An agent picker (all agents only for those who may see all), headline numbers, then charts."""
    user = services.require_user("metrics")
    st.title("Metrics")
    agents = services.oversight_agents(user, "metrics")
    if not agents:
        st.info("Your roles see no agent's reviews.")
        return
    everything = set(agents) >= set(available_agents())
    left, right = st.columns(2)
    scope = left.selectbox("Agent", ([ALL] if everything else []) + agents, key="metrics_agent")
    window = right.selectbox("Window", list(view.WINDOWS), key="metrics_window", help="Reviews created in it")
    agent = None if scope == ALL else scope
    result = view.in_window(services.runner().db, view.WINDOWS[window])
    summary = result if agent is None else result["per_agent"].get(agent)
    if not summary:
        st.info(f"No reviews for this agent in the {window.lower()}: choose a longer window.")
        return
    _headline(summary, window)
    st.subheader(_titled("Rates over time", window))
    _over_time(window, agent)
    by_agent = {a: s for a, s in result["per_agent"].items() if agent is None or a == agent}
    _rates(_titled("Rates by agent", window), "Agent", by_agent)
    names = set(agent_policy(agent).actions) if agent else None
    actions = {a: s for a, s in result["per_action"].items() if names is None or a in names}
    _rates(_titled("Rates by action", window), "Action", actions)
    _time_to_review(by_agent, actions, window)
    categories = summary.get("correction_categories")
    if categories is not None:
        st.subheader(_titled("Correction categories (edits and rejections)", window))
        if categories:
            named = {str(c).replace("_", " "): n for c, n in categories.items()}
            st.bar_chart(pd.DataFrame({"edits and rejections": named}), horizontal=True)
        else:
            st.caption("No edits or rejections in this window.")
    _calibration(summary.get("calibration") or {}, window)


def _titled(title: str, window: str) -> str:
    """A section's title with the window it counts: `Rates by agent (last 7 days)`."""
    return f"{title} ({window.lower()})"


def _headline(summary: dict[str, Any], window: str) -> None:
    decided = summary.get("decided")
    rates = st.columns(len(HEADLINE))
    for column, (key, label) in zip(rates, HEADLINE.items(), strict=True):
        column.metric(label, view.rate_text(summary.get(key), decided), help=f"Share of {decided or 0} decided reviews")
    columns = st.columns(6)
    waits = summary.get("time_to_review") or {}
    calibration = summary.get("calibration") or {}
    people = summary.get("reviewed_by_people")
    executed = summary.get("approved_executed")
    columns[0].metric("Time to review (median)", view.duration_text(waits.get("median_s")))
    columns[1].metric("Time to review (p90)", view.duration_text(waits.get("p90_s")))
    columns[2].metric("False approval rate", view.rate_text(summary.get("false_approval_rate"), executed))
    columns[3].metric("Post-approval incidents", view.rate_text(summary.get("post_approval_incident_rate"), executed))
    columns[4].metric("Brier score", _num(calibration.get("brier")))
    columns[5].metric("Calibration error (ECE)", _num(calibration.get("ece")))
    reviews = summary.get("reviews")
    st.caption(
        f"{window}: {view.count_text(reviews)} review{'' if reviews == 1 else 's'} created, "
        f"{view.count_text(decided)} decided, "
        f"{view.count_text(summary.get('pending'))} pending. Times to review are over the "
        f"{view.count_text(people)} reviews a person decided; false approvals and incidents over the "
        f"{view.count_text(executed)} approved actions executed; calibration over {calibration.get('n') or 0} reviews."
    )


def _over_time(window: str, agent: str | None) -> None:
    span = view.WINDOWS[window]
    rows = _windowed(services.database_url(), window, agent)
    if not rows:
        st.caption("No decided reviews in this window.")
        return
    frame = pd.DataFrame(
        {view.group_label(r["bucket"], r["decided"]): {k: r[k] for k in view.RATES.values()} for r in rows}
    ).T
    if len(frame) == 1:
        st.bar_chart(frame, stack=False)  # one bucket: a line would be invisible
    else:
        st.line_chart(frame)
    st.caption(f"Share of decided reviews per {view.bucket_unit(span)}; each point's label says how many.")


def _rates(title: str, kind: str, groups: dict[str, dict[str, Any]]) -> None:
    rows = view.rate_table(groups, kind)
    if not rows:
        return
    st.subheader(title)
    st.bar_chart(pd.DataFrame(view.rate_rows(groups)).T, stack=False, horizontal=True)
    services.text_table(rows)


def _time_to_review(agents: dict[str, dict[str, Any]], actions: dict[str, dict[str, Any]], window: str) -> None:
    rows = view.review_time_table({"Agent": agents, "Action": actions})
    if rows:
        st.subheader(_titled("Time to review", window))
        services.text_table(rows)


def _calibration(calibration: dict[str, Any], window: str) -> None:
    bins = calibration.get("bins") or []
    if not bins:
        return  # (per-agent summaries carry only the scores, shown in the headline)
    st.subheader(_titled("Confidence calibration", window))
    frame = pd.DataFrame(
        {
            "approved unchanged (observed)": {b["confidence"]: b["approved"] for b in bins},
            "perfectly calibrated": {b["confidence"]: b["confidence"] for b in bins},
        }
    )
    st.line_chart(frame)
    st.caption(
        f"Brier {_num(calibration.get('brier'))}, ECE {_num(calibration.get('ece'))}, n = {calibration.get('n')}"
    )


@st.cache_data(ttl=30, show_spinner=False)
def _windowed(database_key: str, window: str, agent: str | None) -> list[dict[str, Any]]:
    return view.over_time(services.runner().db, view.WINDOWS[window], agent=agent)


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


main()
