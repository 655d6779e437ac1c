"""Metrics: the seed's evaluation metrics (`hitl metrics`) as charts, overall, over time, by agent and action."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from hitl_core import metrics
from hitl_core.canonical import iso, utc_now
from hitl_runtime.agents import agent_policy, available_agents
from ui import services

RATES = ("approval_rate", "edit_rate", "rejection_rate", "escalation_rate", "expiry_rate")
WINDOWS = {"Last 24 hours, by hour": (24, timedelta(hours=1)), "Last 14 days, by day": (14, timedelta(days=1))}


ALL = "All agents"


def main() -> None:
    """An agent picker (all agents only for those who may see all), headline numbers, then charts."""
    user = services.require_user("metrics")
    st.title("Metrics")
    agents = services.oversight_agents(user, "metrics")
    if not agents:
        st.info("Your roles see no agent's reviews.")
        return
    everything = set(agents) >= set(available_agents())
    scope = st.selectbox("Agent", ([ALL] if everything else []) + agents, key="metrics_agent")
    agent = None if scope == ALL else scope
    result = metrics.compute(services.runner().db)
    summary = result if agent is None else result["per_agent"].get(agent)
    if not summary:
        st.info("No reviews yet for this agent.")
        return
    _headline(summary)
    st.subheader("Rates over time")
    window = st.selectbox("Window", list(WINDOWS), key="metrics_window")
    frame = _over_time(window, agent)
    if frame.empty:
        st.caption("No decided reviews in this window.")
    elif len(frame) == 1:
        st.bar_chart(frame, stack=False)  # one bucket: a line would be invisible
    else:
        st.line_chart(frame)
    by_agent = {a: s for a, s in result["per_agent"].items() if agent is None or a == agent}
    _rates("By agent", by_agent)
    names = set(agent_policy(agent).actions) if agent else None
    actions = {a: s for a, s in result["per_action"].items() if names is None or a in names}
    _rates("By action", actions)
    _time_to_review(by_agent, actions)
    categories = summary.get("correction_categories")
    if categories is not None:
        st.subheader("Correction categories (edits and rejections)")
        if categories:
            st.bar_chart(pd.DataFrame({"count": categories}), horizontal=True)
        else:
            st.caption("No edits or rejections yet.")
    _calibration(summary.get("calibration") or {})


def _headline(summary: dict[str, Any]) -> None:
    rates = st.columns(5)
    for column, key in zip(rates, RATES, strict=True):
        column.metric(key.replace("_", " ").capitalize(), _percent(summary.get(key)))
    columns = st.columns(6)
    waits = summary.get("time_to_review") or {}
    calibration = summary.get("calibration") or {}
    columns[0].metric("Time to review (median)", _seconds(waits.get("median_s")))
    columns[1].metric("Time to review (p90)", _seconds(waits.get("p90_s")))
    columns[2].metric("False approval rate", _percent(summary.get("false_approval_rate")))
    columns[3].metric("Post-approval incidents", _percent(summary.get("post_approval_incident_rate")))
    columns[4].metric("Brier score", _num(calibration.get("brier")))
    columns[5].metric("Calibration error (ECE)", _num(calibration.get("ece")))
    st.caption(
        f"{summary.get('reviews', 0)} reviews: {summary.get('decided', 0)} decided, {summary.get('pending', 0)} pending."
    )


def _rates(title: str, groups: dict[str, dict[str, Any]]) -> None:
    if not groups:
        return
    st.subheader(f"Rates {title.lower()}")
    frame = pd.DataFrame({name: {k: s.get(k) or 0.0 for k in RATES} for name, s in groups.items()}).T
    st.bar_chart(frame, stack=False, horizontal=True)


def _time_to_review(agents: dict[str, dict[str, Any]], actions: dict[str, dict[str, Any]]) -> None:
    rows = {
        f"{kind}: {name}": {
            "median (s)": (s.get("time_to_review") or {}).get("median_s") or 0.0,
            "p90 (s)": (s.get("time_to_review") or {}).get("p90_s") or 0.0,
        }
        for kind, group in (("agent", agents), ("action", actions))
        for name, s in group.items()
    }
    if rows:
        st.subheader("Time to review")
        st.bar_chart(pd.DataFrame(rows).T, stack=False, horizontal=True)


def _calibration(calibration: dict[str, Any]) -> None:
    bins = calibration.get("bins") or []
    if not bins:
        return  # (per-agent summaries carry only the scores, shown in the headline)
    st.subheader("Confidence calibration")
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
def _windowed(database_key: str, since: str, until: str) -> dict[str, Any]:
    return metrics.compute(services.runner().db, since=since, until=until)


def _over_time(window: str, agent: str | None) -> pd.DataFrame:
    count, step = WINDOWS[window]
    now = utc_now()
    end = now - timedelta(seconds=now.second, microseconds=now.microsecond, minutes=now.minute)
    if step >= timedelta(days=1):
        end -= timedelta(hours=end.hour)
    end += step
    rows: dict[str, dict[str, float]] = {}
    for index in range(count, 0, -1):
        start = end - index * step
        result = _windowed(services.database_url(), iso(start), iso(start + step))
        summary = result if agent is None else result["per_agent"].get(agent)
        if not summary or not summary.get("decided"):
            continue
        label = start.strftime("%m-%d %H:00" if step < timedelta(days=1) else "%Y-%m-%d")
        rows[label] = {k: summary.get(k) or 0.0 for k in RATES}
    return pd.DataFrame(rows).T


def _percent(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0%}"


def _seconds(value: Any) -> str:
    if value is None:
        return "-"
    return f"{float(value):.1f} s" if value < 120 else f"{float(value) / 60:.1f} min"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


main()
