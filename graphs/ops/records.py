"""The simulated fleet of Northwind Home's services, and the ops actions that change it.

A service registry per environment (versions, replicas, health, dependencies), its deploy history,
open incidents, production access grants and incident bridges, all in the project's database, so
an approved remediation really changes something a test can read back, and its undo really puts it
back: a rollback is rolled forward, a scale-out scaled back, a grant revoked, a bridge closed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graphs.ops.files import KNOWLEDGE
from hitl_core.actions import ActionSpec, register
from hitl_core.canonical import dumps, iso_in, loads, new_id, now_iso
from hitl_core.db import Row, Tx
from hitl_core.errors import BadInput, Conflict
from hitl_core.retrieval import read_jsonl

ENVS = ("prod", "staging", "dev")
"""The fleet's environments, the strictest first."""
Env = Literal["prod", "staging", "dev"]
Severity = Literal["sev1", "sev2", "sev3", "sev4"]
MAX_ACCESS_HOURS = 8
"""Production access is time-bounded (pol-011 §1, rb-009); the schema allows longer so the policy can flag it."""


# -- the registry ------------------------------------------------------------------------------
def catalog() -> list[dict[str, Any]]:
    """The shipped service catalog (production records)."""
    return read_jsonl(KNOWLEDGE / "services.jsonl")


def service_id(name: str, env: str) -> str:
    """Registry key of a service in one environment."""
    return f"{env}/{name}"


def health_for(error_rate: float) -> str:
    """Health as the dashboards show it, from the error rate."""
    if error_rate >= 0.25:
        return "failing"
    if error_rate >= 0.05:
        return "degraded"
    return "healthy"


def _seed(tx: Tx) -> None:
    """Put the catalog into the registry once: production as shipped, smaller staging and dev copies."""
    if tx.scalar("SELECT COUNT(*) AS n FROM sim_ops_services"):
        return
    for record in catalog():
        for env in ENVS:
            replicas = {"prod": int(record["replicas"]), "staging": max(1, int(record["replicas"]) // 2)}.get(env, 1)
            _insert_service(
                tx,
                {
                    "name": record["name"],
                    "env": env,
                    "owner_team": record["owner_team"],
                    "tier": int(record["tier"]),
                    "version": record["version"],
                    "previous_version": record.get("previous_version"),
                    "replicas": replicas,
                    "max_replicas": int(record["max_replicas"]),
                    "health": record.get("health", "healthy"),
                    "error_rate": 0.002,
                    "depends_on": record.get("depends_on", []),
                },
            )
            if record.get("previous_version") and record["previous_version"] != record["version"]:
                _record_deploy(
                    tx,
                    service_id(record["name"], env),
                    "deploy",
                    record["previous_version"],
                    record["version"],
                    "pipeline",
                    iso_in(-3 * 24 * 3600),
                )


def _insert_service(tx: Tx, row: dict[str, Any]) -> None:
    tx.execute(
        """INSERT INTO sim_ops_services (id, name, env, owner_team, tier, version, previous_version, replicas,
               max_replicas, health, error_rate, depends_on, restarts, updated_at)
           VALUES (:id, :name, :env, :owner_team, :tier, :version, :previous_version, :replicas,
               :max_replicas, :health, :error_rate, :depends_on, 0, :at)
           ON CONFLICT (id) DO NOTHING""",
        {**row, "id": service_id(row["name"], row["env"]), "depends_on": dumps(row["depends_on"]), "at": now_iso()},
    )


def _record_deploy(tx: Tx, sid: str, kind: str, from_version: str | None, to_version: str, actor: str, at: str) -> str:
    deploy_id = new_id("dep")
    tx.execute(
        "INSERT INTO sim_ops_deploys (id, service_id, kind, from_version, to_version, actor, at) "
        "VALUES (:i, :s, :k, :f, :t, :a, :at)",
        {"i": deploy_id, "s": sid, "k": kind, "f": from_version, "t": to_version, "a": actor, "at": at},
    )
    return deploy_id


def load_context(tx: Tx, context: dict[str, Any], requester: str) -> None:
    """Load a scenario's facts (service, incident) into the fleet; missing ones default to the catalog."""
    _seed(tx)
    raw = context.get("service")
    service: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if not service.get("name"):
        return
    name, env = str(service["name"]), str(service.get("env") or "prod")
    if env not in ENVS:
        raise BadInput(f"context.service.env must be one of {', '.join(ENVS)}, not {env!r}")
    sid = service_id(name, env)
    known = next((r for r in catalog() if r["name"] == name), None)
    existing = get_service(tx, name, env)
    if existing is None:
        replicas = int(service.get("replicas") or (known or {}).get("replicas") or 2)
        _insert_service(
            tx,
            {
                "name": name,
                "env": env,
                "owner_team": (known or {}).get("owner_team", "platform"),
                "tier": int((known or {}).get("tier", 2)),
                "version": str(service.get("version") or (known or {}).get("version") or "1.0.0"),
                "previous_version": service.get("previous_version") or (known or {}).get("previous_version"),
                "replicas": replicas,
                "max_replicas": max(int(known["max_replicas"]) if known else replicas * 3, replicas, 3),
                "health": "healthy",
                "error_rate": 0.002,
                "depends_on": (known or {}).get("depends_on", []),
            },
        )
        existing = get_service(tx, name, env)
        assert existing is not None
    updates: dict[str, Any] = {}
    if service.get("replicas") is not None:
        updates["replicas"] = int(service["replicas"])
        updates["max_replicas"] = max(int(existing["max_replicas"]), int(service["replicas"]))
    if service.get("previous_version"):
        updates["previous_version"] = str(service["previous_version"])
    version = str(service.get("version") or existing["version"])
    previous = str(service.get("previous_version") or existing["previous_version"] or "") or None
    if version != existing["version"]:
        updates["version"] = version
    if service.get("version") or service.get("previous_version"):
        latest = tx.one(
            "SELECT from_version, to_version FROM sim_ops_deploys WHERE service_id = :s AND kind = 'deploy' "
            "ORDER BY at DESC LIMIT 1",
            {"s": sid},
        )
        if (
            previous
            and previous != version
            and (latest is None or (latest["from_version"], latest["to_version"]) != (previous, version))
        ):
            _record_deploy(tx, sid, "deploy", previous, version, "pipeline", iso_in(-45 * 60))
    incident = context.get("incident")
    if isinstance(incident, dict) and incident.get("id"):
        rate = incident.get("error_rate")
        logs = [str(line) for line in incident.get("logs") or []][:50]
        tx.execute(
            """INSERT INTO sim_ops_incidents (id, service_id, severity, error_rate, logs, status, opened_at)
               VALUES (:i, :s, :sev, :r, :l, 'open', :at)
               ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, error_rate = excluded.error_rate,
                   logs = excluded.logs""",
            {
                "i": str(incident["id"]),
                "s": sid,
                "sev": str(incident.get("severity") or "sev3"),
                "r": float(rate) if isinstance(rate, (int, float)) else None,
                "l": dumps(logs),
                "at": now_iso(),
            },
        )
        if isinstance(rate, (int, float)):
            updates["error_rate"] = float(rate)
            updates["health"] = health_for(float(rate))
    if updates:
        _update_service(tx, sid, updates)


def _update_service(tx: Tx, sid: str, updates: dict[str, Any]) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in updates)
    tx.execute(
        f"UPDATE sim_ops_services SET {sets}, updated_at = :at WHERE id = :sid",
        {**updates, "at": now_iso(), "sid": sid},
    )


def get_service(tx: Tx, name: str, env: str) -> Row | None:
    """A service record in one environment, with its dependencies decoded."""
    row = tx.one("SELECT * FROM sim_ops_services WHERE id = :i", {"i": service_id(name, env)})
    if row is not None:
        row["depends_on"] = loads(row["depends_on"], [])
    return row


def versions(tx: Tx, name: str) -> dict[str, str]:
    """The version a service runs in each environment it is in, the strictest first ("the staging build")."""
    rows = {
        r["env"]: str(r["version"])
        for r in tx.execute("SELECT env, version FROM sim_ops_services WHERE name = :n", {"n": name})
    }
    return {env: rows[env] for env in ENVS if env in rows}


def service_names(tx: Tx) -> list[str]:
    """Every service the registry knows, in any environment."""
    return [r["name"] for r in tx.execute("SELECT DISTINCT name FROM sim_ops_services ORDER BY name")]


def teams(tx: Tx) -> list[str]:
    """The owning teams of the fleet."""
    return [r["owner_team"] for r in tx.execute("SELECT DISTINCT owner_team FROM sim_ops_services ORDER BY owner_team")]


def dependents(tx: Tx, name: str, env: str) -> list[str]:
    """Services in the same environment that call this one (directly or through others)."""
    rows = tx.execute("SELECT name, depends_on FROM sim_ops_services WHERE env = :e", {"e": env})
    callers: dict[str, set[str]] = {}
    for row in rows:
        for dependency in loads(row["depends_on"], []):
            callers.setdefault(dependency, set()).add(row["name"])
    found: list[str] = []
    queue = [name]
    while queue:
        for caller in sorted(callers.get(queue.pop(0), set())):
            if caller not in found and caller != name:
                found.append(caller)
                queue.append(caller)
    return found


def recent_deploys(tx: Tx, name: str, env: str, limit: int = 5) -> list[Row]:
    """The service's latest rollouts, newest first."""
    return tx.execute(
        "SELECT kind, from_version, to_version, actor, at FROM sim_ops_deploys WHERE service_id = :s "
        "ORDER BY at DESC LIMIT :n",
        {"s": service_id(name, env), "n": limit},
    )


def incident(tx: Tx, incident_id: str) -> dict[str, Any] | None:
    """An incident by id, logs decoded."""
    row = tx.one("SELECT * FROM sim_ops_incidents WHERE id = :i", {"i": incident_id})
    if row is None:
        return None
    return {**row, "logs": loads(row["logs"], [])}


def active_grants(tx: Tx, name: str, env: str) -> list[Row]:
    """Access grants in force on the service."""
    return tx.execute(
        "SELECT id, principal, level, expires_at FROM sim_ops_access_grants "
        "WHERE service_id = :s AND status = 'active' ORDER BY granted_at",
        {"s": service_id(name, env)},
    )


def open_bridges(tx: Tx, incident_id: str | None = None) -> list[Row]:
    """Incident bridges still open (for one incident, or all)."""
    if incident_id:
        return tx.execute(
            "SELECT * FROM sim_ops_bridges WHERE incident_id = :i AND status = 'open' ORDER BY opened_at",
            {"i": incident_id},
        )
    return tx.execute("SELECT * FROM sim_ops_bridges WHERE status = 'open' ORDER BY opened_at")


def _service(tx: Tx, name: str, env: str) -> Row:
    row = get_service(tx, name, env)
    if row is None:
        raise BadInput(f"unknown service {name!r} in {env}")
    return row


# -- actions -----------------------------------------------------------------------------------
class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=80, description="Service name as in the registry")
    env: Env = Field(description="Environment: prod, staging or dev")


class InspectLogsArgs(_Args):
    """Read a service's recent logs and metrics (read-only)."""

    query: str = Field(default="", max_length=200, description="What to look for")
    minutes: int = Field(default=60, ge=1, le=1440, description="How far back to read")


class RestartArgs(_Args):
    """Rolling restart of every replica."""

    reason: str = Field(min_length=1, max_length=500)


class RollbackArgs(_Args):
    """Roll the service back to an earlier version."""

    to_version: str = Field(min_length=1, max_length=40, description="Version to roll back to")
    reason: str = Field(min_length=1, max_length=500)


class DeployArgs(_Args):
    """Roll out a version (or redeploy the current one with renewed configuration)."""

    version: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=500)


class ScaleArgs(_Args):
    """Change the number of replicas."""

    replicas: int = Field(ge=1, le=200, description="Target replica count")
    reason: str = Field(min_length=1, max_length=500)


class AccessArgs(_Args):
    """Grant or revoke a person's access to a service."""

    principal: str = Field(min_length=1, max_length=80, description="Account the access is for")
    operation: Literal["grant", "revoke"] = "grant"
    level: Literal["read", "write", "admin"] = "read"
    duration_hours: int = Field(default=4, ge=1, le=168, description="Access expires after this many hours")
    reason: str = Field(min_length=1, max_length=500)


class BridgeArgs(BaseModel):
    """Open an incident bridge and page the owning teams."""

    model_config = ConfigDict(extra="forbid")
    incident_id: str = Field(min_length=1, max_length=64)
    service: str = Field(min_length=1, max_length=80)
    env: Env = "prod"
    severity: Severity = "sev2"
    teams: list[str] = Field(default_factory=list, max_length=10, description="Teams to page")
    summary: str = Field(min_length=1, max_length=1000)


def _actor(thread_id: str) -> str:
    return f"thread:{thread_id}"


def _change_version(tx: Tx, args: dict[str, Any], thread_id: str, kind: str, target: str) -> dict[str, Any]:
    row = _service(tx, args["service"], args["env"])
    if kind == "rollback" and row["version"] == target:
        raise BadInput(f"{args['service']} ({args['env']}) already runs {target}: there is nothing to roll back")
    sid = row["id"]
    deploy_id = _record_deploy(tx, sid, kind, row["version"], target, _actor(thread_id), now_iso())
    health = "recovering" if row["health"] != "healthy" else "healthy"
    _update_service(tx, sid, {"version": target, "previous_version": row["version"], "health": health})
    return {
        "service_id": sid,
        "deploy_id": deploy_id,
        "from_version": row["version"],
        "to_version": target,
        "previous_version_before": row["previous_version"],
        "health_before": row["health"],
    }


def _restore_version(kind: str) -> Any:
    def undo(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
        row = tx.one("SELECT version FROM sim_ops_services WHERE id = :i", {"i": effect["service_id"]})
        if row is None or row["version"] != effect["to_version"]:
            raise Conflict(
                f"{effect['service_id']} no longer runs {effect['to_version']} (now {row and row['version']}); "
                "undo would overwrite a later change"
            )
        deploy_id = _record_deploy(
            tx, effect["service_id"], kind, effect["to_version"], effect["from_version"], "undo", now_iso()
        )
        _update_service(
            tx,
            effect["service_id"],
            {
                "version": effect["from_version"],
                "previous_version": effect["previous_version_before"],
                "health": effect["health_before"],
            },
        )
        return {"service_id": effect["service_id"], "deploy_id": deploy_id, "version": effect["from_version"]}

    return undo


def _rollback(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    return _change_version(tx, args, thread_id, "rollback", args["to_version"])


def _deploy(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    return _change_version(tx, args, thread_id, "deploy", args["version"])


def _restart(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    row = _service(tx, args["service"], args["env"])
    _record_deploy(tx, row["id"], "restart", row["version"], row["version"], _actor(thread_id), now_iso())
    health = "recovering" if row["health"] != "healthy" else "healthy"
    _update_service(tx, row["id"], {"restarts": int(row["restarts"]) + 1, "health": health})
    return {"service_id": row["id"], "replicas_restarted": row["replicas"], "version": row["version"]}


def _scale(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    row = _service(tx, args["service"], args["env"])
    if args["replicas"] > int(row["max_replicas"]):
        raise BadInput(
            f"{args['replicas']} replicas exceeds {args['service']}'s cap of {row['max_replicas']} in {args['env']}"
        )
    _update_service(tx, row["id"], {"replicas": args["replicas"]})
    return {"service_id": row["id"], "from_replicas": row["replicas"], "to_replicas": args["replicas"]}


def _scale_back(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
    row = tx.one("SELECT replicas FROM sim_ops_services WHERE id = :i", {"i": effect["service_id"]})
    if row is None or int(row["replicas"]) != int(effect["to_replicas"]):
        raise Conflict(f"{effect['service_id']} was rescaled since (now {row and row['replicas']} replicas)")
    _update_service(tx, effect["service_id"], {"replicas": effect["from_replicas"]})
    return {"service_id": effect["service_id"], "replicas": effect["from_replicas"]}


def _change_access(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    row = _service(tx, args["service"], args["env"])
    if args["operation"] == "revoke":
        grants = [
            g["id"]
            for g in tx.execute(
                "SELECT id FROM sim_ops_access_grants WHERE service_id = :s AND principal = :p AND status = 'active'",
                {"s": row["id"], "p": args["principal"]},
            )
        ]
        if not grants:
            raise BadInput(f"{args['principal']} holds no active access to {args['service']} in {args['env']}")
        for grant in grants:
            tx.execute(
                "UPDATE sim_ops_access_grants SET status = 'revoked', revoked_at = :t WHERE id = :i",
                {"t": now_iso(), "i": grant},
            )
        return {"service_id": row["id"], "operation": "revoke", "revoked": grants}
    grant_id = new_id("grant")
    expires = iso_in(3600 * args["duration_hours"])
    tx.execute(
        """INSERT INTO sim_ops_access_grants (id, service_id, principal, level, status, reason, thread_id,
               granted_at, expires_at) VALUES (:i, :s, :p, :l, 'active', :r, :t, :at, :e)""",
        {
            "i": grant_id,
            "s": row["id"],
            "p": args["principal"],
            "l": args["level"],
            "r": args["reason"],
            "t": thread_id,
            "at": now_iso(),
            "e": expires,
        },
    )
    return {"service_id": row["id"], "operation": "grant", "grant_id": grant_id, "expires_at": expires}


def _undo_access(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
    if effect["operation"] == "grant":
        tx.execute(
            "UPDATE sim_ops_access_grants SET status = 'revoked', revoked_at = :t WHERE id = :i AND status = 'active'",
            {"t": now_iso(), "i": effect["grant_id"]},
        )
        return {"revoked": [effect["grant_id"]]}
    for grant in effect["revoked"]:
        tx.execute("UPDATE sim_ops_access_grants SET status = 'active', revoked_at = NULL WHERE id = :i", {"i": grant})
    return {"reinstated": effect["revoked"]}


def _open_bridge(tx: Tx, args: dict[str, Any], thread_id: str) -> dict[str, Any]:
    existing = open_bridges(tx, args["incident_id"])
    if existing:
        raise Conflict(f"incident {args['incident_id']} already has an open bridge ({existing[0]['id']})")
    bridge_id = new_id("bridge")
    tx.execute(
        """INSERT INTO sim_ops_bridges (id, incident_id, service_id, severity, summary, teams, status, thread_id,
               opened_at) VALUES (:i, :inc, :s, :sev, :sum, :teams, 'open', :t, :at)""",
        {
            "i": bridge_id,
            "inc": args["incident_id"],
            "s": service_id(args["service"], args["env"]),
            "sev": args["severity"],
            "sum": args["summary"],
            "teams": dumps(args["teams"]),
            "t": thread_id,
            "at": now_iso(),
        },
    )
    return {"bridge_id": bridge_id, "incident_id": args["incident_id"], "paged": args["teams"]}


def _close_bridge(tx: Tx, effect: dict[str, Any]) -> dict[str, Any]:
    tx.execute(
        "UPDATE sim_ops_bridges SET status = 'closed', closed_at = :t WHERE id = :i AND status = 'open'",
        {"t": now_iso(), "i": effect["bridge_id"]},
    )
    return {"bridge_id": effect["bridge_id"], "status": "closed"}


# -- previews: what a reviewer sees will happen --------------------------------------------------
def _impact(tx: Tx, args: dict[str, Any], change: dict[str, Any], impact: str, rollback: str) -> dict[str, Any]:
    row = get_service(tx, args["service"], args["env"])
    affected = dependents(tx, args["service"], args["env"]) if row else []
    return {
        "change": change,
        "service": (
            {k: row[k] for k in ("name", "env", "owner_team", "tier", "version", "replicas", "health")} if row else None
        ),
        "affected_services": affected,
        "blast_radius": f"{args['service']} and {len(affected)} dependent service(s) in {args['env']}",
        "expected_impact": impact,
        "rollback_plan": rollback,
    }


def _preview_restart(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
    row = get_service(tx, args["service"], args["env"])
    replicas = row["replicas"] if row else "?"
    return _impact(
        tx,
        args,
        {"restart": f"rolling restart of {replicas} replica(s), at most half at a time"},
        "In-flight requests on each restarting replica fail and may be retried; capacity dips while pods restart.",
        RESTART.undo_plan,
    )


def _preview_version(kind: str) -> Any:
    def preview(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
        row = get_service(tx, args["service"], args["env"])
        target = args["to_version"] if kind == "rollback" else args["version"]
        current = row["version"] if row else "unknown"
        return _impact(
            tx,
            args,
            {"version": [current, target]},
            f"All replicas move from {current} to {target}, one availability zone at a time.",
            f"Redeploy {current} through the pipeline (roll {'forward' if kind == 'rollback' else 'back'}).",
        )

    return preview


def _preview_scale(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
    row = get_service(tx, args["service"], args["env"])
    current = row["replicas"] if row else "unknown"
    cap = row["max_replicas"] if row else None
    note = f" (cap {cap})" if cap else ""
    return _impact(
        tx,
        args,
        {"replicas": [current, args["replicas"]], "max_replicas": cap},
        f"Capacity changes from {current} to {args['replicas']} replicas{note}; cost changes in proportion.",
        f"Scale back to {current} replicas.",
    )


def _preview_access(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
    verb = "revoke all active access of" if args["operation"] == "revoke" else f"grant {args['level']} access to"
    hours = "" if args["operation"] == "revoke" else f" for {args['duration_hours']} hour(s)"
    return _impact(
        tx,
        args,
        {"access": f"{verb} {args['principal']} on {args['service']} ({args['env']}){hours}"},
        "Only the named account's permissions change; access is logged in the audit trail and expires on its own.",
        "Revoke the grant (or reinstate the revoked grants).",
    )


def _preview_bridge(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
    return _impact(
        tx,
        args,
        {"bridge": f"open a {args['severity']} bridge for {args['incident_id']}", "page": args["teams"]},
        "The paged teams join a call; no production system changes.",
        "Close the bridge.",
    )


def _preview_logs(tx: Tx, args: dict[str, Any]) -> dict[str, Any]:
    return {"change": None, "effect": "read-only: nothing changes"}


INSPECT_LOGS = register(
    ActionSpec(
        "inspect_logs",
        "Read a service's recent logs, metrics and deploys and report what they show (read-only)",
        InspectLogsArgs,
        preview=_preview_logs,
    )
)
RESTART = register(
    ActionSpec(
        "restart_service",
        "Rolling restart of a service's replicas",
        RestartArgs,
        _restart,
        None,
        _preview_restart,
        undo_plan="A restart cannot be undone; if pods fail readiness, the rolling restart stops and the remaining "
        "old pods keep serving.",
        identity=("service", "env"),
        confirm=lambda a: f"The service {a['service']} was restarted in {a['env']}, one replica at a time.",
    )
)
ROLLBACK = register(
    ActionSpec(
        "rollback_deploy",
        "Roll a service back to an earlier version",
        RollbackArgs,
        _rollback,
        _restore_version("roll_forward"),
        _preview_version("rollback"),
        undo_plan="Roll forward: redeploy the version that was running before the rollback.",
        identity=("service", "env"),
        confirm=lambda a: f"The service {a['service']} was rolled back to {a['to_version']} in {a['env']}.",
    )
)
DEPLOY = register(
    ActionSpec(
        "deploy",
        "Deploy a version of a service",
        DeployArgs,
        _deploy,
        _restore_version("rollback"),
        _preview_version("deploy"),
        undo_plan="Roll back to the version that was running before the deploy.",
        identity=("service", "env", "version"),
        confirm=lambda a: f"Version {a['version']} of {a['service']} was deployed to {a['env']}.",
    )
)
SCALE = register(
    ActionSpec(
        "scale_service",
        "Change a service's replica count",
        ScaleArgs,
        _scale,
        _scale_back,
        _preview_scale,
        undo_plan="Scale back to the replica count from before the change.",
        identity=("service", "env"),
        confirm=lambda a: f"The service {a['service']} was scaled to {a['replicas']} replicas in {a['env']}.",
    )
)
CHANGE_ACCESS = register(
    ActionSpec(
        "change_access",
        "Grant or revoke a person's access to a service (time-bounded)",
        AccessArgs,
        _change_access,
        _undo_access,
        _preview_access,
        undo_plan="Revoke the grant at once (it also expires on its own); a revocation is undone by reinstating it.",
        identity=("service", "env", "principal"),
        confirm=lambda a: (
            f"{a['principal']} was granted {a['level']} access to {a['service']} ({a['env']}) "
            f"for {a['duration_hours']} hour(s)."
            if a.get("operation", "grant") == "grant"
            else f"{a['principal']}'s access to {a['service']} ({a['env']}) was revoked."
        ),
    )
)
OPEN_BRIDGE = register(
    ActionSpec(
        "open_incident_bridge",
        "Open an incident bridge and page the owning teams",
        BridgeArgs,
        _open_bridge,
        _close_bridge,
        _preview_bridge,
        undo_plan="Close the bridge.",
        identity=("incident_id",),
        confirm=lambda a: (
            f"A {a['severity']} bridge for {a['incident_id']} was opened and "
            f"{', '.join(a['teams']) or 'on-call'} {'were' if len(a['teams']) > 1 else 'was'} paged."
        ),
    )
)
