"""Delivering the outbox (`hitl_core/outbox.py`): reviewers and requesters told that something waits.

The worker (or cron, or `hitl notifications deliver`) calls `deliver_due` periodically. It writes the
"deadline approaching" warnings that have come due (`scan_deadlines`), then sends every pending
notification whose time has come, one row at a time:

- On PostgreSQL the row is taken with `SELECT ... FOR UPDATE SKIP LOCKED` and stays locked while it
  is sent, so two workers never send the same row at once; a worker that dies mid-send rolls back
  and the row is due again at once. On SQLite (one host) the row is claimed for `CLAIM_SECONDS` in a
  short transaction and sent outside it, so no database lock is held across the network.
- Channels: the row's recipients (`role:NAME`, `requester:NAME`) resolve to URLs when it is sent,
  from the agent's policy (`notify:`) and `HITL_NOTIFY_URLS`, deduplicated. Every URL apprise knows
  (Slack, Teams, Discord, email, ...) goes through apprise; generic webhooks (`json://`, `jsons://`,
  apprise's URL syntax, parsed by apprise) are posted here, signed: HMAC-SHA256 over
  `timestamp.body` with `HITL_WEBHOOK_SECRET`, in `X-Hitl-Signature` (`sha256=<hex>`) beside
  `X-Hitl-Timestamp` and `Idempotency-Key` (the row's key). apprise's own JSON plugin builds its body
  itself and sends fixed headers only, so it cannot carry a signature of that body.
- At least once: a row is marked sent only after every one of its channels took it; the channels
  that took it are remembered (`delivered`), so a retry goes to the others only. A failure waits
  `HITL_NOTIFY_BACKOFF_SECONDS`, doubled after each further failure (at most an hour), and after
  `HITL_NOTIFY_MAX_ATTEMPTS` tries the row is dead: `hitl notifications --status dead` lists it and
  `hitl notifications retry ID` puts it back. A receiver that gets a message twice gets the same
  idempotency key twice.

Nothing in a message is read from anywhere but the outbox row (masked when written, masked again
here) and the settings; no card number or secret can reach a channel.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Final
from urllib.parse import quote, urlencode

import apprise

from guardrails.policy import NOTIFY_REQUESTER
from hitl_core import outbox
from hitl_core.canonical import iso, loads, now_iso, parse_iso, utc_now
from hitl_core.db import Database, Row
from hitl_core.errors import BadInput
from hitl_core.masking import mask_text
from hitl_core.settings import Settings, configured, notify_entry
from hitl_runtime.agents import agent_policy, available_agents, known_roles

MAX_BACKOFF_SECONDS: Final = 3600.0
CLAIM_SECONDS: Final = 300.0
"""How long an SQLite worker holds a row it is sending (far longer than the channels' timeouts)."""
KEEP_DAYS: Final = 30
"""Sent and skipped notifications are deleted this long after they were written (dead ones stay)."""
BATCH: Final = 200
"""At most this many notifications per `deliver_due` call (the next call takes the rest)."""
WEBHOOK_SCHEMES: Final = ("json", "jsons")
SIGNATURE_HEADER: Final = "X-Hitl-Signature"
TIMESTAMP_HEADER: Final = "X-Hitl-Timestamp"
KEY_HEADER: Final = "Idempotency-Key"
EVENT_HEADER: Final = "X-Hitl-Event"
SIGNATURE_TOLERANCE_SECONDS: Final = 300


# -- configuration ------------------------------------------------------------------------------------
def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower()


@lru_cache(maxsize=512)
def _plugin(url: str) -> Any:
    """The apprise object for a URL (parsed once), or None when apprise does not know it."""
    asset = apprise.AppriseAsset(storage_mode="memory")  # nothing written to disk behind the operator's back
    return apprise.Apprise.instantiate(url, asset=asset)


def _check_url(url: str, where: str) -> None:
    if _plugin(url) is None:
        raise BadInput(f"{where}: {url.split('://', 1)[0]!r}... is not a URL apprise supports")


@dataclass(frozen=True)
class Channels:
    """Where each recipient is reached: `HITL_NOTIFY_URLS` and the agents' `notify:` sections."""

    every_role: tuple[str, ...]
    """URLs without a role prefix: every reviewer role (not requesters)."""
    by_role: Mapping[str, tuple[str, ...]]
    policy_dir: str | None
    secret: str | None

    def _policy_urls(self, agent: str | None) -> dict[str, list[str]]:
        if not agent:
            return {}
        try:
            notify = agent_policy(agent, self.policy_dir).notify
        except BadInput:  # an agent this deployment no longer runs: the environment's channels only
            return {}
        for role, urls in notify.items():
            for url in urls:
                _check_url(url, f"policy of {agent}, notify.{role}")
        return {role: list(urls) for role, urls in notify.items()}

    def urls(self, agent: str | None, recipients: list[str]) -> list[str]:
        """The URLs a notification for these recipients goes to, each once."""
        own = self._policy_urls(agent)
        found: list[str] = []
        for key in recipients:
            kind, _, name = key.partition(":")
            if kind == "role":
                found += [*own.get(name, []), *self.by_role.get(name, ()), *self.every_role]
            elif kind == "requester":
                found += [*own.get(NOTIFY_REQUESTER, []), *self.by_role.get(NOTIFY_REQUESTER, ())]
        return list(dict.fromkeys(found))


def channels(settings: Settings | None = None) -> Channels:
    """The configuration, checked: known roles, URLs apprise supports, a secret for signed webhooks.

    Any problem is one line (BadInput); the worker calls this at start to fail early.
    """
    settings = settings or configured()
    roles = set(known_roles()) | {NOTIFY_REQUESTER}
    every: list[str] = []
    by_role: dict[str, list[str]] = {}
    webhooks = False
    for number, entry in enumerate(settings.notify_urls, start=1):
        role, url = notify_entry(entry)
        where = f"HITL_NOTIFY_URLS: entry {number} ({role + '=' if role else ''}{_scheme(url)}://…)"
        if role is not None and role not in roles:
            raise BadInput(f"{where}: unknown role {role!r} (known: {', '.join(sorted(roles))})")
        _check_url(url, where)
        webhooks = webhooks or _scheme(url) in WEBHOOK_SCHEMES
        if role is None:
            every.append(url)
        else:
            by_role.setdefault(role, []).append(url)
    for agent in available_agents():
        for role, urls in agent_policy(agent, settings.policy_dir).notify.items():
            for url in urls:
                _check_url(url, f"policy of {agent}, notify.{role}")
                webhooks = webhooks or _scheme(url) in WEBHOOK_SCHEMES
    if webhooks and not settings.webhook_secret:
        raise BadInput("HITL_WEBHOOK_SECRET is not set: json:// and jsons:// webhooks are signed with it")
    return Channels(
        every_role=tuple(dict.fromkeys(every)),
        by_role={role: tuple(dict.fromkeys(urls)) for role, urls in by_role.items()},
        policy_dir=settings.policy_dir,
        secret=settings.webhook_secret,
    )


# -- the message ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """One notification as people read it (title and text) and as a webhook receives it (`document`)."""

    title: str
    body: str
    link: str
    warning: bool
    document: dict[str, Any]


def _money(amount: Any, currency: Any) -> str | None:
    if not isinstance(amount, (int, float)) or isinstance(amount, bool):
        return None
    return f"{amount:,.2f}" + (f" {currency}" if currency else "")


def _what(data: Mapping[str, Any]) -> str:
    """`refund 45.00 USD (order_id o-123456)`."""
    parts = [str(data.get("action") or "a request")]
    money = _money(data.get("amount"), data.get("currency"))
    if money:
        parts.append(money)
    target = data.get("target") or {}
    text = " ".join(parts)
    if target:
        text += " (" + ", ".join(f"{k} {v}" for k, v in target.items()) + ")"
    return text


def _left(deadline: str, now: datetime) -> str:
    seconds = (parse_iso(deadline) - now).total_seconds()
    minutes = int(abs(seconds) // 60)
    span = f"{minutes // 1440}d {minutes % 1440 // 60}h" if minutes >= 1440 else f"{minutes // 60}h {minutes % 60}m"
    return f"in {span}" if seconds >= 0 else f"{span} ago"


def _deadline(data: Mapping[str, Any], now: datetime) -> str | None:
    deadline = data.get("deadline")
    if not isinstance(deadline, str):
        return None
    try:
        shown = parse_iso(deadline).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return deadline
    return f"{shown} ({_left(deadline, now)})"


def _link(app_url: str, event: str, data: Mapping[str, Any]) -> str:
    base = app_url.rstrip("/")
    if event in outbox.REQUESTER_EVENTS:
        return f"{base}/chat?thread={quote(str(data.get('thread_id') or ''), safe='')}"
    return f"{base}/review?id={quote(str(data.get('review_id') or ''), safe='')}"


def _reviewer_lines(event: str, data: Mapping[str, Any], now: datetime) -> tuple[str, list[str]]:
    what, agent = _what(data), data.get("agent")
    tier = str(data.get("tier") or "reviewers")
    fallback = data.get("fallback")
    if event == "review_escalated":
        came = data.get("escalated_from") or {}
        title = f"Escalated to {tier}: {what}"
        lead = f"A {agent} review was escalated to {tier} by {came.get('by') or 'a reviewer'}"
        lead += f": {came['comment']}" if came.get("comment") else "."
    elif event == "deadline_approaching":
        title = f"Deadline approaching: {what}"
        lead = f"A {agent} review waiting for {tier} is close to its deadline and nobody has decided it."
    elif event == "review_expired":
        title = f"Review expired: {what}; fallback {fallback}"
        lead = f"Nobody decided this {agent} review by its deadline; the policy's fallback was taken: {fallback}."
    else:
        title = f"Review waiting: {what} ({agent})"
        lead = f"A {agent} request waits for a decision by {tier}."
    lines = [lead, f"What: {what}"]
    roles = ", ".join(data.get("roles") or [])
    approvals = data.get("approvals")
    lines.append(f"For: {tier} (roles {roles})" + (f", {approvals} distinct approvers" if (approvals or 1) > 1 else ""))
    if isinstance(data.get("risk"), (int, float)):
        confidence = data.get("confidence")
        lines.append(
            f"Risk: {data['risk']:.2f}"
            + (f" (confidence {confidence:.2f})" if isinstance(confidence, (int, float)) else "")
        )
    money = _money(data.get("amount"), data.get("currency"))
    if money:
        lines.append(f"Amount: {money}")
    deadline = _deadline(data, now)
    if deadline and event != "review_expired":
        lines.append(f"Deadline: {deadline}" + (f"; if nobody decides: {fallback}" if fallback else ""))
    if data.get("requester"):
        lines.append(f"Requested by: {data['requester']}")
    if data.get("reasons"):
        lines.append("Why: " + "; ".join(str(r) for r in data["reasons"]))
    return title, lines


def render(row: Mapping[str, Any], settings: Settings | None = None, now: datetime | None = None) -> Message:
    """The message of an outbox row (its stored payload, the app's address), masked once more."""
    settings = settings or configured()
    moment = now or utc_now()
    event = str(row["event"])
    data = row["payload"] if isinstance(row["payload"], Mapping) else loads(row["payload"], {}) or {}
    link = _link(settings.app_url, event, data)
    if event == "decision_applied":
        title = f"Your request: {_what(data)} was {data.get('outcome')}"
        lines = [
            f"Your {data.get('agent')} request ({_what(data)}) was {data.get('outcome')}.",
            f"Conversation: {link}",
        ]
    elif event == "question_asked":
        title = f"A question about your {data.get('agent')} request"
        lines = [f"We need more information to continue: {data.get('question')}", f"Answer here: {link}"]
        deadline = _deadline(data, moment)
        if deadline:
            lines.insert(1, f"Please answer by {deadline}.")
    else:
        title, lines = _reviewer_lines(event, data, moment)
        lines.append(f"Review: {link}")
    title, body = mask_text(title)[:250], mask_text("\n".join(lines))
    recipients = row["recipient"] if isinstance(row["recipient"], list) else str(row["recipient"]).split(",")
    document = {
        "id": row["id"],
        "event": event,
        "idempotency_key": row["idempotency_key"],
        "created_at": row["created_at"],
        "review_id": row["review_id"],
        "thread_id": row["thread_id"],
        "agent": row["agent"],
        "recipients": recipients,
        "title": title,
        "message": body,
        "link": link,
        "data": data,
    }
    warning = event in ("deadline_approaching", "review_expired", "review_escalated")
    return Message(title, body, link, warning, document)


# -- signing ---------------------------------------------------------------------------------------------
def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of `timestamp.body`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature over the exact body, and a timestamp within `tolerance` seconds."""
    try:
        moment = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - moment) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), str(signature))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer, not an invitation to post the signed body elsewhere


def _post_signed(url: str, message: Message, secret: str) -> None:
    """POST the document to a json:// or jsons:// URL (apprise's syntax), signed; raises on any failure."""
    plugin = _plugin(url)
    scheme = "https" if plugin.secure else "http"
    port = f":{plugin.port}" if isinstance(plugin.port, int) else ""
    target = f"{scheme}://{plugin.host}{port}{plugin.fullpath or '/'}"
    if plugin.params:
        target += "?" + urlencode(plugin.params)
    body = json.dumps(message.document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    timestamp = str(int(time.time()))
    headers = {str(k): str(v) for k, v in (plugin.headers or {}).items()}  # the URL's own `+Header=value`
    headers.update(
        {
            "Content-Type": "application/json",
            "User-Agent": "hitl-agents",
            EVENT_HEADER: str(message.document["event"]),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            KEY_HEADER: str(message.document["idempotency_key"]),
        }
    )
    if plugin.user:
        token = b64encode(f"{plugin.user}:{plugin.password or ''}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(target, data=body, headers=headers, method=str(plugin.method or "POST"))
    handlers: list[Any] = [_NoRedirect()]
    if scheme == "https":
        context = ssl.create_default_context()
        if not plugin.verify_certificate:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    timeout = max(float(plugin.socket_connect_timeout or 4), float(plugin.socket_read_timeout or 4))
    try:
        with opener.open(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(str(reason) or type(reason).__name__) from None
    if not 200 <= status < 300:
        raise RuntimeError(f"HTTP {status}")


def _send_apprise(url: str, message: Message) -> None:
    """Send through apprise's plugin for the URL; raises with what apprise logged when it fails."""
    plugin = _plugin(url)
    with apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s") as captured:
        ok = plugin.notify(
            body=message.body,
            title=message.title,
            notify_type=apprise.NotifyType.WARNING if message.warning else apprise.NotifyType.INFO,
            body_format=apprise.NotifyFormat.TEXT,
        )
    if not ok:
        logged = [line for line in captured.getvalue().splitlines() if line.strip()]
        raise RuntimeError(logged[-1] if logged else "apprise reported a failure")


def _fingerprint(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _shown_url(url: str) -> str:
    plugin = _plugin(url)
    try:
        return str(plugin.url(privacy=True)).split("?", 1)[0]
    except Exception:  # pragma: no cover - a plugin without a printable URL
        return _scheme(url) + "://…"


@dataclass
class _Outcome:
    kind: str  # sent, failed, skipped
    delivered: list[str]
    error: str = ""


def _send_row(row: Row, config: Channels, settings: Settings) -> _Outcome:
    """Send one outbox row to every channel that has not taken it yet."""
    recipients = [r for r in str(row["recipient"]).split(",") if r]
    delivered = list(loads(row["delivered"], []) or [])
    try:
        urls = config.urls(row["agent"], recipients)
    except BadInput as exc:  # a policy of an agent registered in code, not checked with the rest
        return _Outcome("failed", delivered, str(exc))
    if not urls:
        return _Outcome("skipped", delivered, f"no channel configured for {', '.join(recipients)}")
    message = render(row, settings)
    errors: list[str] = []
    for url in urls:
        mark = _fingerprint(url)
        if mark in delivered:
            continue
        try:
            if _scheme(url) in WEBHOOK_SCHEMES:
                if not config.secret:
                    raise RuntimeError("HITL_WEBHOOK_SECRET is not set")
                _post_signed(url, message, config.secret)
            else:
                _send_apprise(url, message)
        except Exception as exc:  # one channel's failure is recorded; the others still get the message
            errors.append(f"{_shown_url(url)}: {' '.join(str(exc).split())[:300]}")
            continue
        delivered.append(mark)
    if errors:
        return _Outcome("failed", delivered, "; ".join(errors))
    return _Outcome("sent", delivered)


# -- the periodic entry point --------------------------------------------------------------------------------
def _moment(now: str | datetime | None) -> datetime:
    if now is None:
        return utc_now()
    return now if isinstance(now, datetime) else parse_iso(now)


def _database(target: Any) -> Database:
    db = getattr(target, "db", target)
    if not isinstance(db, Database):
        raise TypeError("deliver_due needs a Runner or a Database")
    return db


def scan_deadlines(target: Any, settings: Settings | None = None, now: str | datetime | None = None) -> int:
    """Write the "deadline approaching" notifications that have come due; each review's once. How many."""
    db, settings = _database(target), settings or getattr(target, "settings", None) or configured()
    moment = iso(_moment(now))
    written = 0
    share = settings.notify_deadline_share
    for candidate in outbox.deadline_candidates(db, moment):
        if outbox.warning_at(candidate["created_at"], candidate["deadline"], share) > moment:
            continue
        with db.transaction() as tx:
            written += outbox.warn_deadline(tx, candidate["id"], moment, share)
    return written


def _backoff(attempts: int, settings: Settings) -> float:
    return float(min(MAX_BACKOFF_SECONDS, settings.notify_backoff_seconds * 2 ** max(0, attempts - 1)))


def deliver_due(
    runner_or_db: Any, settings: Settings | None = None, now: str | datetime | None = None, *, limit: int = BATCH
) -> dict[str, Any]:
    """Scan deadlines, then send the notifications due by `now` (the worker's periodic task).

    Takes a Runner (its database and, unless `settings` is given, its settings) or an upgraded
    Database. Returns a report: `sent`, `retried` (failed, tried again later), `dead` (failed for the
    last time), `skipped` (nothing to send them to), `deadline_warnings` written, `purged` old rows,
    and `errors` (one line per failed notification). A configuration problem raises BadInput.
    """
    db = _database(runner_or_db)
    settings = settings or getattr(runner_or_db, "settings", None) or configured()
    config = channels(settings)
    moment = _moment(now)
    stamp = iso(moment)
    report: dict[str, Any] = {
        "sent": 0,
        "retried": 0,
        "dead": 0,
        "skipped": 0,
        "deadline_warnings": scan_deadlines(db, settings, moment),
        "purged": 0,
        "errors": [],
    }
    locking = db.dialect == "postgresql"
    for _ in range(limit):
        outcome: _Outcome | None = None
        with db.transaction() as tx:
            row = outbox.next_due(tx, stamp, lock=locking)
            if row is None:
                break
            if row["event"] == "deadline_approaching" and outbox.review_status(tx, row["review_id"]) != "pending":
                outbox.mark_skipped(tx, row["id"], "the review was decided before the warning went out", now_iso())
                report["skipped"] += 1
                continue
            if locking:  # the row stays locked while it is sent: no other worker can take it meanwhile
                outcome = _send_row(row, config, settings)
                _record(tx, row, outcome, settings, moment, report)
            else:
                outbox.claim(tx, row["id"], iso(moment + timedelta(seconds=CLAIM_SECONDS)))
        if outcome is None:  # SQLite: sent outside the transaction that claimed it
            outcome = _send_row(row, config, settings)
            with db.transaction() as tx:
                _record(tx, row, outcome, settings, moment, report)
    report["purged"] = outbox.purge(db, iso(moment - timedelta(days=KEEP_DAYS)))
    return report


def _record(tx: Any, row: Row, outcome: _Outcome, settings: Settings, moment: datetime, report: dict[str, Any]) -> None:
    stamp = now_iso()
    if outcome.kind == "sent":
        outbox.mark_sent(tx, row["id"], outcome.delivered, stamp)
        report["sent"] += 1
        return
    if outcome.kind == "skipped":
        outbox.mark_skipped(tx, row["id"], outcome.error, stamp)
        report["skipped"] += 1
        return
    attempts = int(row["attempts"]) + 1
    retry_at = (
        iso(moment + timedelta(seconds=_backoff(attempts, settings)))
        if attempts < settings.notify_max_attempts
        else None
    )
    outbox.mark_failed(tx, row["id"], outcome.error, outcome.delivered, retry_at, stamp)
    report["retried" if retry_at else "dead"] += 1
    report["errors"].append({"id": row["id"], "event": row["event"], "attempts": attempts, "error": outcome.error})


# -- reading and requeueing (the CLI and the app) ----------------------------------------------------------------
def listing(target: Any, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The outbox, newest first (one status if given)."""
    return outbox.listing(_database(target), status=status, limit=limit)


def dead_letters(target: Any, limit: int = 100) -> list[dict[str, Any]]:
    """Notifications that failed for the last time."""
    return listing(target, status="dead", limit=limit)


def retry(target: Any, notification_id: str) -> dict[str, Any]:
    """Put a dead letter back: due now, with its attempts counted afresh."""
    return outbox.requeue(_database(target), notification_id)


def counts(target: Any) -> dict[str, int]:
    """How many notifications are in each status."""
    return outbox.counts(_database(target))
