"""The offline model's ops behaviour: read the request and the investigation, suggest one action.

It plays a careful on-call engineer. An explicit instruction (restart, roll back, scale, deploy, change
access, open a bridge, show logs) is followed within the runbooks' limits: replicas capped at the
service's maximum, access time-bounded and least-privilege, rollbacks only to a version that exists.
Without one, it diagnoses from the retrieved runbooks and known log patterns and suggests what they
prescribe. It refuses to destroy data or disable audit logging, and asks when it cannot tell which
service is meant.
"""

from __future__ import annotations

import math
import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from graphs.ops.files import POLICY_FILE
from graphs.ops.graph import destructive_terms, elsewhere, environments_named
from graphs.ops.records import ENVS
from guardrails.intents import actions_asked, says_hands_off
from guardrails.policy import load_policy
from guardrails.prompt_context import read_context
from hitl_core.canonical import value_hash
from hitl_core.offline_model import question_message, tool_call_message

_NEG = "".join(
    rf"(?<!\b{word} )"
    for word in ("don't", "not", "never", "without", "no", "can't", "cannot", "won't", "shouldn't", "instead of")
)
"""A remediation verb right after a negation ("we can't roll back") is not an instruction."""
_INTENTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "change_access",
            r"\b(grant|revoke)\b|\bbreak[- ]?glass\b|\b(give|need|get|want|request|provide|elevate|remove|let|allow|add)"
            r"\b[^\n]{0,50}\b(access|permissions?|privileges?|rights|role binding|credentials)\b(?! logs?\b)",
        ),
        ("open_incident_bridge", r"\b(bridge|war ?room|incident (call|channel|room)|page (the |on-?call|everyone))\b"),
        (
            "rollback_deploy",
            _NEG + r"\b(roll ?(it |this |that |them )?back|rollback|revert|downgrade|go back to (the )?previous)\b",
        ),
        ("restart_service", _NEG + r"\b(restart|bounce|reboot|recycle|rolling restart)\b"),
        (
            "scale_service",
            _NEG + r"\b(scale|(more|fewer|add|extra) (pods|instances|replicas|capacity)|\d+ (replicas|pods|instances)|"
            r"(double|triple|halve|increase|decrease|reduce|bump|raise|lower)\b[^.\n]{0,30}\b(replicas|pods|instances|capacity))\b",
        ),
        (
            "deploy",
            _NEG + r"(?<!\bthe )(?<!\bthis )(?<!\blast )(?<!\blatest )(?<!\brecent )(?<!\bnew )(?<!'s )(?<!\bsince )"
            r"(?<!\bafter )(?<!\bbad )(?<!\bour )\b(re-?deploy|deploy|ship|roll out|promote|upgrade|(fresh|new) rollout)\b"
            r"(?!s? (went|broke|failed|got|is|was|has|have|seems|stuck|hung|froze))",
        ),
        (
            "inspect_logs",
            r"\b(show|list|tail|grep|pull up|fetch|look (at|into)|inspect|investigate|diagnose|check|why|"
            r"what('s| is) (wrong|going on|happening)|any idea|read[- ]only|just (look|read))\b"
            r"|^\s*(is|are|does|do|how|what|which|when|where|who|why)\b",
        ),
    )
)
_REVOKE = re.compile(
    r"\b(revoke|remove|withdraw|take away|cut off|disable)\b[^\n]{0,40}\b(access|rights|permissions?)\b", re.IGNORECASE
)
_ASKS = re.compile(
    r"\?|\b(please|pls|can (you|u)|could (you|u)|can we|could we|would (you|u)|let'?s|go ahead|we need|i need|i want|"
    r"we want|make sure|put|give|bring|take|do it|try|"
    # asks to look: "compare ... before and after", "summarise the logs", "explain this alert", "grab cpu"
    r"compare|summari[sz]e|explain|tell me|walk me through|break (it )?down|grab|pull)\b",
    re.IGNORECASE,
)
"""A request asks for something (a question, a please, an imperative), as opposed to reporting symptoms."""
_VERSION = re.compile(r"\bv?(\d+\.\d+(?:\.\d+)?(?:[-+][\w.]+)?)\b")
_BRANCH = re.compile(
    r"\b([a-z][\w.-]*/[\w./-]*\w|main|master|trunk)\s+branch\b"  # "the feature/gift-wrap branch", "the main branch"
    r"|\bbranch\s+([a-z][\w.]*[/-][\w./-]*\w)",  # "branch release/2.6", "branch hotfix-123", not "branch of"
    re.I,
)
_SAME_VERSION = re.compile(
    r"\bre-?deploy|\bsame (version|build|image|tag|release)\b|\b(fresh|new) rollout\b|\broll(ing)? (it )?out again\b"
    r"|\b(deploy(ment)?|rollout|roll-out)s?\b[^.?!]{0,40}?\b(stuck|hung|stalled|half[- ]done)\b",
    re.I,
)
"""A redeploy: the version running stays, its configuration is renewed (or its stuck rollout finished)."""
_CANARY_DONE = re.compile(
    r"\bcanary\b[^.?!]{0,60}?(\b100 ?%|" + _NEG + r"\bpromot|\ball the way\b|\beveryone\b|\bfull (rollout|traffic)\b)"
    r"|(" + _NEG + r"\bpromot\w*|\b100 ?%)[^.?!]{0,30}\bcanary\b",
    re.I,
)
"""A canary taken to everyone: the rollout of the version running is finished, no other version is meant."""
_PROMOTE = re.compile(_NEG + r"\bpromot(e|es|ed|ing)\b", re.I)
_HELD_BACK = re.compile(
    r"\b(don'?t|do not|not|never|won'?t|shouldn'?t|can'?t|cannot|hold off( on)?)\s+(\w+\s+)?"
    r"(promot|deploy|ship|push|releas|roll(ing)? (it |\w+ )?out)",
    re.I,
)
"""A deploy the words hold back ("don't promote it to prod yet"): no environment's build is meant for it."""
_ACCOUNT = re.compile(
    r"\b(?:for|to|give|grant|revoke|remove)\s+(?:user\s+|account\s+|engineer\s+)?([a-z][a-z0-9]*(?:[._-][a-z0-9]+)+)\b"
)
_SEV = re.compile(r"\bsev ?([1-4])\b", re.IGNORECASE)
_INCIDENT = re.compile(r"\b(inc-[\w-]+)\b", re.IGNORECASE)


def respond(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
    """One deterministic ops suggestion for the given prompt."""
    context = read_context(messages)
    text = str(context.get("request") or "")
    service = context.get("service") or {}
    destroy = destructive_terms(text)
    if destroy:
        return AIMessage(
            "I won't do that: destroying data or disabling audit logging is forbidden for me in every environment "
            f"({', '.join(destroy)}). If something must be removed, the owning team and security decide on a "
            "bridge, with a snapshot taken first.\nCONFIDENCE: 0.95"
        )
    if not service.get("known"):
        # The graph names the environment it looked in (the one the words name, else the context's).
        named = f" I couldn't find {service['name']} in {service['env']}." if service.get("name") else ""
        return question_message(
            ["which service (and environment) this is about"],
            f"Which service is this about, and in which environment (prod, staging or dev)?{named}",
        )
    # The validator's intent signal reads the request first, so a rephrased rollback is proposed as a
    # rollback and a question that names an action ("did anything get deployed at two?") is answered by
    # looking. An action named in so many words wins when the signal reads it too ("Restart the service."
    # then "notification-service in dev"); the keyword table decides alone only what the signal does not
    # recognise, and a report of symptoms that asks for nothing is diagnosed from the runbooks.
    asked = actions_asked(load_policy("ops", own_file=POLICY_FILE), text)
    keyword = _explicit_intent(text)
    intent: str | None = keyword
    if asked and not (keyword is not None and keyword in asked):
        intent = asked[0] if asked[0] != "inspect_logs" or _ASKS.search(text) else keyword
    if intent == "deploy" and keyword != "deploy" and _HELD_BACK.search(text) and _ASKS.search(text):
        intent = "inspect_logs"  # "don't promote, just give me numbers": the deploy read is the one said not to do
    explicit = intent is not None
    if intent is None:
        # Symptoms are diagnosed into a remedy, unless the requester said not to act: then only a look.
        intent = "inspect_logs" if says_hands_off(text) else _diagnose(context)
    return _suggest(intent, explicit, text, context)


def branch_named(text: str) -> str | None:
    """The branch a request names as what to deploy: a deployable ref, like a version."""
    match = _BRANCH.search(text)
    return (match.group(1) or match.group(2)) if match else None


def _explicit_intent(text: str) -> str | None:
    for name, pattern in _INTENTS:
        if pattern.search(text):
            return name
    return None


def _remediations(context: dict[str, Any]) -> dict[str, float]:
    """Votes for each remediation: retrieved runbooks by score, known log patterns by their runbooks."""
    votes: dict[str, float] = {}
    for runbook in context.get("runbooks") or []:
        votes[runbook["remediation"]] = votes.get(runbook["remediation"], 0.0) + float(runbook["score"])
    for pattern in context.get("log_patterns") or []:
        remedy = pattern.get("remediation")
        if remedy:
            votes[remedy] = votes.get(remedy, 0.0) + 0.8 * float(pattern["score"])
    return votes


def _diagnose(context: dict[str, Any]) -> str:
    """What the evidence prescribes, sanity-checked against the service's state."""
    service = context["service"]
    incident = context.get("incident") or {}
    votes = _remediations(context)
    for remedy, _ in sorted(votes.items(), key=lambda kv: kv[1], reverse=True):
        if remedy == "rollback_deploy" and not _rollback_target(context):
            continue
        if remedy == "restart_service" and str(service["name"]).endswith("-db"):
            return "open_incident_bridge"  # never restart a database primary without the data team
        if remedy == "scale_service" and service["replicas"] >= service["max_replicas"]:
            continue
        if remedy == "change_access":
            continue  # access is granted on request, never as a remediation
        if remedy == "inspect_logs" and incident.get("severity") == "sev1":
            return "open_incident_bridge"  # a SEV1 gets a bridge within 15 minutes (pol-019)
        return remedy
    return "open_incident_bridge" if incident.get("severity") == "sev1" else "inspect_logs"


def _rollback_target(context: dict[str, Any]) -> str | None:
    service = context["service"]
    previous = service.get("previous_version")
    return str(previous) if previous and previous != service["version"] else None


def _guide(context: dict[str, Any], action: str) -> dict[str, Any] | None:
    return next((r for r in context.get("runbooks") or [] if r["remediation"] == action), None)


def _cause(context: dict[str, Any]) -> str:
    """The likely cause, from what the investigation found (known log pattern, runbook, deploy, metrics)."""
    patterns = context.get("log_patterns") or []
    runbooks = context.get("runbooks") or []
    service = context["service"]
    parts = []
    if patterns:
        parts.append(f"logs match the known pattern '{patterns[0]['pattern']}'")
    if runbooks:
        parts.append(f"closest runbook {runbooks[0]['id']} '{runbooks[0]['title']}'")
    deploys = [d for d in context.get("recent_deploys") or [] if d.get("kind") == "deploy"]
    if deploys:
        parts.append(f"last deploy {deploys[0]['from_version']} -> {deploys[0]['to_version']}")
    parts.append(f"error rate {float(service.get('error_rate') or 0):.1%}, {service.get('health')}")
    return "; ".join(parts)


def _why(explicit: bool, text: str, context: dict[str, Any]) -> str:
    """The reason to give: the requester's own words for an instruction, else the diagnosis."""
    if not explicit:
        return f"Likely cause: {_cause(context)}"
    incident = context.get("incident") or {}
    seen = f" (incident {incident['id']}, {incident['severity']})" if incident.get("id") else ""
    return f"Requested: {' '.join(text.split())[:240].rstrip(' .!?')}{seen}"


def _suggest(intent: str, explicit: bool, text: str, context: dict[str, Any]) -> AIMessage:
    service = context["service"]
    name, env = service["name"], service["env"]
    where = f"{name} ({env})"
    guide = _guide(context, intent)
    strong = guide is not None and float(guide["score"]) >= 0.3
    confidence = 0.88 if explicit else (0.8 if strong else 0.6)
    why = _why(explicit, text, context)
    if intent == "inspect_logs":
        logs = context.get("logs") or []
        others = elsewhere(service.get("versions") or {}, env)
        summary = (
            f"Read-only look at {where}: version {service['version']} (previous {service.get('previous_version')})"
            f"{others}, {service['replicas']} replicas, {service.get('health')}. {len(logs)} recent log lines; "
            f"{_cause(context)}. Nothing was changed."
        )
        if guide or context.get("runbooks"):
            best = guide or context["runbooks"][0]
            summary += f" Next step per runbook {best['id']}: {best['steps'][0]}"
        return tool_call_message(
            "inspect_logs", {"service": name, "env": env, "query": text[:200], "minutes": 60}, summary, 0.85
        )
    impact = f" Runbook {guide['id']}: {guide['expected_impact']}" if strong and guide else ""
    if intent == "restart_service":
        return tool_call_message(
            "restart_service",
            {"service": name, "env": env, "reason": why},
            f"Rolling restart of {where}, at most half the replicas at a time. {why}.{impact}",
            confidence,
        )
    if intent == "rollback_deploy":
        target = _rollback_target(context)
        if target is None:
            return question_message(
                ["the version to roll back to"],
                f"{where} has no earlier version on record. Which version should it roll back to?",
            )
        return tool_call_message(
            "rollback_deploy",
            {"service": name, "env": env, "to_version": target, "reason": why},
            f"Roll {where} back from {service['version']} to {target}. {why}.{impact}",
            confidence,
        )
    if intent == "scale_service":
        return _scale(text, context, why, impact, confidence)
    if intent == "deploy":
        branch = branch_named(text)
        versions = [v for v in _VERSION.findall(text) if v != service["version"]]
        if branch:
            versions.insert(0, branch)
        certificate = bool(re.search(r"certificat|tls|x509", text + " " + (guide or {}).get("title", ""), re.I))
        # Without a version named: a finished canary keeps the one running; a build named by where it runs
        # ("the staging build", "promote to prod") is what runs there; a redeploy (asked in so many words, or
        # diagnosed: a renewed certificate, a stuck rollout) keeps the current one.
        canary_done = bool(_CANARY_DONE.search(text))
        keeps = certificate or not explicit or canary_done or bool(_SAME_VERSION.search(text))
        source = None if versions or canary_done else _source_env(text, env)
        if source is not None:
            there = (service.get("versions") or {}).get(source)
            if there is None or there == service["version"]:
                nothing = (
                    f"{name} does not run in {source}"
                    if there is None
                    else f"{source} runs the same version as {env} ({there})"
                )
                return question_message(
                    ["the version to deploy"], f"{nothing}. Which version of {name} should I deploy to {env}?"
                )
            versions = [there]
        version = versions[0] if versions else (service["version"] if keeps else None)
        if version is None:
            return question_message(["the version to deploy"], f"Which version of {name} should I deploy to {env}?")
        what = "Redeploy" if version == service["version"] else "Deploy"
        return tool_call_message(
            "deploy",
            {"service": name, "env": env, "version": version, "reason": why},
            f"{what} {name} {version} to {env} (running {service['version']}). {why}.{impact}",
            confidence,
        )
    if intent == "change_access":
        return _access(text, context, confidence)
    return _bridge(text, context, why, confidence)


def _source_env(text: str, env: str) -> str | None:
    """Where the build to deploy runs, when the words say so.

    A less strict environment they name, the nearest first ("green in dev and staging, ship it to prod":
    staging), else the one below for a promotion ("promote it to prod": staging).
    """
    if _HELD_BACK.search(text):
        return None
    below = ENVS[ENVS.index(env) + 1 :]
    named = [e for e in environments_named(text) if e in below]
    if named:
        return named[0]
    return below[0] if below and _PROMOTE.search(text) else None


def _scale(text: str, context: dict[str, Any], why: str, impact: str, confidence: float) -> AIMessage:
    service = context["service"]
    current, cap = int(service["replicas"]), int(service["max_replicas"])
    requested: int | None = None
    if m := re.search(r"\bto\s+(\d+)\b(?!\s*%)|\b(\d+)\s+(?:replicas|pods|instances)\b", text, re.I):
        requested = int(m.group(1) or m.group(2))
    elif m := re.search(r"\bby\s+(\d+)\b(?!\s*%)", text, re.I):
        requested = current + int(m.group(1))
    elif re.search(r"\bdouble\b", text, re.I):
        requested = current * 2
    elif re.search(r"\btriple\b", text, re.I):
        requested = current * 3
    elif re.search(r"\bhalve\b", text, re.I):
        requested = max(1, current // 2)
    elif re.search(r"\b(scale (it |them )?(down|in|back)|fewer|reduce|shrink)\b", text, re.I):
        requested = max(1, current - max(1, current // 3))
    wanted = requested or math.ceil(current * 1.5)
    target = max(1, min(wanted, cap))
    note = f" {wanted} would exceed the cap of {cap} replicas, so I propose {cap}." if wanted > cap else ""
    return tool_call_message(
        "scale_service",
        {"service": service["name"], "env": service["env"], "replicas": target, "reason": why},
        f"Scale {service['name']} ({service['env']}) from {current} to {target} replicas.{note} {why}."
        + (impact if target > current else ""),
        confidence - (0.1 if note else 0.0),
    )


_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "eight": 8,
    "twelve": 12,
}
_COUNT = r"(\d+|" + "|".join(_NUMBER_WORDS) + r")"


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


def _hours(text: str) -> int:
    """How long access is asked for, in hours (4 when the request does not say)."""
    if m := re.search(rf"\b{_COUNT}\s*(h|hrs?|hours?)\b", text):
        return _count(m.group(1))
    if m := re.search(rf"\b{_COUNT}\s*days?\b", text):
        return 24 * _count(m.group(1))
    if re.search(r"\b(week|month|permanent\w*|indefinite\w*|ongoing|standing|forever)\b", text):
        return 24 * 7
    if re.search(r"\bbreak[- ]?glass\b", text):
        return 2
    return 4


def _principal(text: str, context: dict[str, Any]) -> str:
    """The account named in the request, else the requester."""
    service = context["service"]
    for match in _ACCOUNT.finditer(text):
        candidate = match.group(1)
        if candidate not in (service["name"], *(context.get("services") or [])) and not _VERSION.fullmatch(candidate):
            return candidate
    return str(context.get("requester") or "anonymous")


def _access(text: str, context: dict[str, Any], confidence: float) -> AIMessage:
    service = context["service"]
    limit = int(context.get("max_access_hours") or 8)
    lowered = text.lower()
    principal = _principal(lowered, context)
    if re.search(r"\b(admin|root|superuser|owner|dba|full)\b", lowered):
        level = "admin"
    elif re.search(r"\b(write|read-write|rw|modify|update|repair|fix (the )?data|break[- ]?glass)\b", lowered):
        level = "write"
    else:
        level = "read"
    base = {"service": service["name"], "env": service["env"], "principal": principal, "reason": text[:300]}
    if _REVOKE.search(text):
        return tool_call_message(
            "change_access",
            {**base, "operation": "revoke", "level": level, "duration_hours": 1},
            f"Revoke {principal}'s access to {service['name']} ({service['env']}).",
            confidence,
        )
    hours = _hours(lowered)
    capped = min(hours, limit)
    note = f" Access is time-bounded: {hours} hours asked, {capped} proposed (the limit)." if hours > limit else ""
    return tool_call_message(
        "change_access",
        {**base, "operation": "grant", "level": level, "duration_hours": capped},
        f"Grant {principal} {level} access to {service['name']} ({service['env']}) for {capped} hour(s), "
        f"approved by the owning team ({service.get('owner_team')}).{note}",
        confidence - (0.1 if note else 0.0),
    )


def _bridge(text: str, context: dict[str, Any], why: str, confidence: float) -> AIMessage:
    service = context["service"]
    incident = context.get("incident") or {}
    sev = _SEV.search(text)
    severity = str(incident.get("severity") or (f"sev{sev.group(1)}" if sev else "sev2"))
    mentioned = _INCIDENT.search(text)
    incident_id = str(
        incident.get("id")
        or (mentioned.group(1).lower() if mentioned else "inc-" + value_hash([service["name"], text])[:8])
    )
    named = [t for t in context.get("teams") or [] if re.search(rf"\b{re.escape(t)}\b", text, re.I)]
    teams = list(dict.fromkeys([str(service.get("owner_team") or "platform"), *named, "sre"]))
    if str(service["name"]).endswith("-db") and "data" not in teams:
        teams.append("data")
    return tool_call_message(
        "open_incident_bridge",
        {
            "incident_id": incident_id,
            "service": service["name"],
            "env": service["env"],
            "severity": severity,
            "teams": teams,
            "summary": f"{service['name']} ({service['env']}): {_cause(context)}"[:1000],
        },
        f"Open a {severity} bridge for {incident_id} and page {', '.join(teams)}. {why}.",
        confidence,
    )
