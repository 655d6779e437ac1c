"""What every page shares: the cached Runner, who is logged in, and what their roles may see.

Pages call the runtime's functions (the ones the CLI calls); this module only wires Streamlit to
them. Login sessions are server-side (`hitl_core.sessions`). The login form (`ui/web.py`, outside
the pages) puts the session's random token in an HttpOnly cookie, which page scripts cannot read;
the pages read it from the request (`st.context.cookies`) and keep it in this tab's session state,
on the server. It is never written into a page. Logging out revokes every session of the user, so
other tabs and the cookie stop working at once. Every check here only decides what to show; the
runtime checks roles again on every decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

import pandas as pd
import streamlit as st

from hitl_core import reviews, sessions
from hitl_core.canonical import parse_iso, utc_now
from hitl_core.errors import BadInput
from hitl_core.settings import Settings
from hitl_core.users import User, add_user, find_user, validate_name
from hitl_runtime import access, agents
from hitl_runtime.agents import agent_policy, available_agents, known_roles
from hitl_runtime.metrics_view import duration_text
from hitl_runtime.runner import Runner

TOKEN_KEY: Final = "hitl_session_token"
"""Session-state key of this tab's login token (held on the server, never sent to the page)."""
COOKIE: Final = "hitl_session"
"""The HttpOnly cookie the login form sets (`ui/web.py`)."""
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")

PAGES: Final = ("inbox", "review", "thread", "audit", "metrics")
LANDING_ORDER: Final = ("inbox", "chat", "audit", "metrics")
"""The page a user lands on: the first of these their roles may open (reviewers land on their inbox)."""


def settings() -> Settings:
    """The app's settings, read from the environment at the app's edge (each script run)."""
    return Settings()


def refresh_seconds() -> float:
    """How often the chat, inbox and review status refresh themselves (`HITL_UI_REFRESH_SECONDS`)."""
    return settings().ui_refresh_seconds


def demo() -> bool:
    """Whether the login page lists the demo accounts (`HITL_DEMO`, set by `hitl demo`)."""
    return settings().demo


# -- the runtime ------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _runner_for(database_url: str) -> Runner:
    # One Runner per database (the cache's key); the other settings are read when it is built.
    return Runner(settings().model_copy(update={"database_url": database_url}))


def database_url() -> str:
    """`HITL_DATABASE_URL`, or the embedded default."""
    return settings().database_url


def runner() -> Runner:
    """The process-wide Runner for the app's settings (thread-safe, shared by every session using them)."""
    return _runner_for(database_url())


# -- who is logged in -------------------------------------------------------------------------------
def oidc_settings() -> dict[str, Any] | None:
    """The `[auth]` section of Streamlit's secrets when an OIDC provider is configured, else None."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # no secrets file at all
        return None
    return dict(section) if section else None


def oidc_provider() -> str | None:
    """The provider name to pass to `st.login`: `[hitl_auth] provider`, the only `[auth.NAME]`, or None."""
    configured = _mapping_settings().get("provider")
    if configured:
        return str(configured)
    named = [k for k, v in (oidc_settings() or {}).items() if isinstance(v, dict) or hasattr(v, "keys")]
    return named[0] if len(named) == 1 else None


def _mapping_settings() -> dict[str, Any]:
    try:
        section = st.secrets.get("hitl_auth")
    except Exception:
        return {}
    return dict(section) if section else {}


def roles_from_claims(claims: dict[str, Any], settings: dict[str, Any] | None = None) -> list[str]:
    """Map an identity token's claims to roles.

    `[hitl_auth]` in the secrets may set `roles_claim` (default `roles`), `role_map` (claim value ->
    role; default: claim values that are role names) and `default_roles` (default `["end_user"]`,
    given when no claim value maps to a role).
    """
    config = settings if settings is not None else _mapping_settings()
    raw = claims.get(str(config.get("roles_claim", "roles")))
    values = raw if isinstance(raw, (list, tuple)) else re.split(r"[\s,]+", raw) if isinstance(raw, str) else []
    mapping = {str(k): str(v) for k, v in dict(config.get("role_map") or {}).items()}
    known = set(known_roles())
    roles = sorted({mapping.get(str(v), str(v)) for v in values if v} & known)
    return roles or [r for r in config.get("default_roles", ["end_user"]) if r in known]


def _oidc_user() -> User | None:
    """The account of the user logged in at the OIDC provider, created or updated from the claims."""
    if not getattr(st.user, "is_logged_in", False):
        return None
    claims = st.user.to_dict()
    config = _mapping_settings()
    raw_name = claims.get(str(config.get("name_claim", "email"))) or claims.get("sub")
    try:
        name = validate_name(str(raw_name or ""))
    except BadInput:
        return None
    roles = roles_from_claims(claims, config)
    existing = find_user(runner().db, name)
    if existing is not None and sorted(existing.roles) == roles:
        return existing
    return add_user(runner().db, name, roles, actor="oidc")


def token_shaped(token: object) -> bool:
    """Whether a value looks like a session token (anything else is not even looked up)."""
    return isinstance(token, str) and bool(_TOKEN_SHAPE.match(token))


def _cookie_token() -> str | None:
    try:
        token = st.context.cookies.get(COOKIE)
    except Exception:
        return None
    return token if token_shaped(token) else None


def current_user(*, activity: bool = True) -> User | None:
    """The logged-in user with their current roles, or None (logged out, expired, idle too long or revoked).

    `activity=False` (automatic refreshes) checks the session without counting as the user's activity.
    """
    db = runner().db
    token = st.session_state.get(TOKEN_KEY)
    if token is not None:
        user = sessions.resolve(db, token, activity=activity)
        if user is None:  # revoked elsewhere (logout in another tab), expired or idle
            del st.session_state[TOKEN_KEY]
            st.session_state["hitl_ended"] = True
        return user
    if st.session_state.get("hitl_ended"):
        return None  # this tab saw its session end: no silent re-login from a stale cookie or identity
    user = sessions.resolve(db, _cookie_token(), activity=activity)
    if user is None and oidc_settings() is not None:
        user = _oidc_user()
        if user is not None:
            st.session_state[TOKEN_KEY] = sessions.create(db, user, *sessions.lifetimes())
            return user
    if user is not None:
        st.session_state[TOKEN_KEY] = _cookie_token()
    return user


def log_out(user: User) -> None:
    """Revoke every session of the user (all tabs, the cookie), then leave the OIDC provider too."""
    sessions.revoke_all(runner().db, user.name)
    st.session_state.pop(TOKEN_KEY, None)
    st.session_state["hitl_ended"] = True
    if oidc_settings() is not None and getattr(st.user, "is_logged_in", False):
        st.logout()


def start_over() -> None:
    """Forget that this tab's session ended, so the login page may log in again."""
    st.session_state.pop("hitl_ended", None)


def addressed_id(page: str, param: str = "id") -> str:
    """The id this page shows: the address's `?id=`, else the one this tab last opened on the page.

    Streamlit can run a page without its query string (a rerun racing the address bar's update);
    without this a reviewer's page would go blank in the middle of a confirmation. The address is
    put back, so a reload or a copied link keeps the same thing.
    """
    value = str(st.query_params.get(param) or st.session_state.get(f"addressed:{page}:{param}") or "")
    if value:
        address(page, value, param)
    return value


def address(page: str, value: str, param: str = "id") -> None:
    """Show `value` in the address of `page` and remember it for this tab (see `addressed_id`)."""
    st.session_state[f"addressed:{page}:{param}"] = value
    if st.query_params.get(param) != value:
        st.query_params[param] = value


# -- what a role may see ----------------------------------------------------------------------------
def may_open(user: User, page: str) -> bool:
    """Whether the user's roles may open a page."""
    if page == "chat":
        return bool(chat_agents(user))
    return user.has_any(page_roles(page))


def page_roles(page: str) -> tuple[str, ...]:
    """Which roles may open a page, from the agents' policies (`access.page_roles`)."""
    return access.page_roles(page)


def oversight_agents(user: User, page: str) -> list[str]:
    """The agents whose audit trail (`page="audit"`) or metrics (`"metrics"`) the user may read."""
    return access.oversight_agents(user, page)


def landing_page(allowed: Iterable[str]) -> str | None:
    """The page to land on among those allowed (`LANDING_ORDER`), or None."""
    names = set(allowed)
    return next((name for name in LANDING_ORDER if name in names), None)


def chat_agent_roles() -> dict[str, tuple[str, ...]]:
    """Role -> agents it may chat with: `[hitl_chat.agents]` in Streamlit's secrets, else the policies' `chat_roles`."""
    try:
        section = st.secrets.get("hitl_chat")
    except Exception:  # no secrets file at all
        section = None
    configured = dict(section).get("agents") if section else None
    if not configured:
        return agents.chat_roles()
    return {str(role): tuple(str(a) for a in agents) for role, agents in dict(configured).items()}


def chat_agents(user: User) -> list[str]:
    """The offered agents the user's roles may chat with, in the order the configuration names them."""
    mapping = chat_agent_roles()
    offered = set(available_agents())
    named = [agent for role in user.roles for agent in mapping.get(role, ())]
    return [agent for agent in dict.fromkeys(named) if agent in offered]


def require_user(page: str) -> User:
    """The logged-in user allowed on `page`; otherwise explain and stop the page."""
    user = current_user()
    if user is None:
        st.warning("Your session has ended (logged out here or in another tab, or expired). Log in again.")
        st.stop()
    if not may_open(user, page):
        st.error(f"Your roles ({', '.join(user.roles)}) do not give access to this page.")
        st.stop()
    return user


def agent_roles(agent: str) -> set[str]:
    """Every role the agent's policy names as a reviewer (action tiers and the escalation path)."""
    return access.agent_roles(agent)


def visible_agents(user: User) -> list[str]:
    """Agents whose reviews, threads and metrics the user may see: those whose policy names a role of theirs."""
    return access.visible_agents(user)


def may_decide(user: User, review: dict[str, Any]) -> tuple[bool, str]:
    """Whether to offer the decision buttons, and if not, why (the runtime checks again)."""
    if review["kind"] != "review":
        return False, "This is a question for the requester; they answer it in the chat."
    if review["status"] != "pending":
        return False, "This review has been decided."
    refusal = reviews.decide_refusal(user, review)
    if refusal == "own_request":
        return False, "You made this request, so you cannot decide it."
    if refusal == "no_role":
        return False, (
            f"You can see this review but not decide it: it needs one of "
            f"{', '.join(review['required_roles'])} ({review['tier_name']}); your roles are {', '.join(user.roles)}."
        )
    return True, ""


def may_roll_back(user: User, agent: str, action: str) -> bool:
    """Whether to offer rollback of an executed action (roles that may decide it; the runtime checks again)."""
    policy = agent_policy(agent)
    return action in policy.actions and user.has_any(policy.rollback_roles(action))


def may_dismiss(user: User, review: dict[str, Any]) -> bool:
    """Whether to offer Dismiss (the `ignore` decision) on a pending review (the runtime checks again)."""
    policy = agent_policy(review["agent"])
    action = review.get("action")
    if review["kind"] != "review" or action not in policy.actions:
        return False
    return user.has_any(policy.ignore_roles_at(str(action), review["required_roles"]))


def reviewer_roles(user: User) -> list[str] | None:
    """The role filter for the inbox: the user's own roles, or None (everything) for an admin."""
    return access.inbox_roles(user)


# -- formatting -------------------------------------------------------------------------------------
def age(timestamp: str | None, now: datetime | None = None) -> str:
    """How long ago, e.g. `3 h 12 min`."""
    if not timestamp:
        return "-"
    return duration_text(((now or utc_now()) - parse_iso(timestamp)).total_seconds())


def countdown(deadline: str | None, now: datetime | None = None) -> str:
    """Time left until a deadline (`in 3 h 59 min`) or how long it is overdue."""
    if not deadline:
        return "no deadline"
    left = (parse_iso(deadline) - (now or utc_now())).total_seconds()
    return f"in {duration_text(left)}" if left >= 0 else f"overdue by {duration_text(left)}"


def local_time(timestamp: str | None) -> str:
    """A stored UTC timestamp as `YYYY-MM-DD HH:MM:SS UTC`."""
    if not timestamp:
        return "-"
    return parse_iso(timestamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def number(value: Any, digits: int = 2) -> str:
    """A float for display, `-` for None."""
    return "-" if value is None else f"{float(value):.{digits}f}"


def one_line(text: Any, limit: int = 80) -> str:
    """Collapse whitespace and cut to `limit` characters, for labels and table cells."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=\"'])")


def md_escape(text: Any) -> str:
    """Escape text for `st.markdown`: every markup character is backslash-escaped, so it renders as typed."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def cell(value: Any) -> str:
    """Any value as one string for a table cell (JSON for structures)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, default=str, ensure_ascii=False)


def text_table(rows: list[dict[str, Any]], *, hide_header: bool = False) -> None:
    """A static table of escaped text: `st.table` renders Markdown in cells, so every cell is escaped first."""
    if not rows:
        return
    frame = pd.DataFrame([{md_escape(k): md_escape(cell(v)) for k, v in row.items()} for row in rows])
    st.table(frame, hide_index=True, hide_header=hide_header)


def join_roles(roles: Iterable[str]) -> str:
    """Roles for display."""
    return ", ".join(roles) or "-"
