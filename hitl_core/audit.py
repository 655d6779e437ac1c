"""Append-only audit events: keyed chains per thread, a keyed registry of chains, signed checkpoints.

Each thread has its own chain (plus a `system` chain for events outside threads), so concurrent
decisions on different threads never wait on one global tail. A head row per chain records the last
sequence number and hash.

Keys. Each event's hash is an HMAC-SHA256 over the previous hash and the event's fields, under a key
kept outside the database: `HITL_AUDIT_KEY` (hex, or text), else the key file `HITL_AUDIT_KEY_FILE`,
else `audit.key` beside an SQLite database file or `.hitl/audit.key` in the working directory for
PostgreSQL, created with mode 0600 on first use. Events store the key's fingerprint (`key_id`, an
HMAC of a constant: it reveals nothing about the key), so a verify with another key says so, and an
append refuses to extend a chain written under another key. Events written before schema version 4
carry no scheme (`scheme` NULL): an unkeyed SHA-256 chain, which keeps verifying; the next event of
such a chain is keyed, and from then on the chain cannot go back to the unkeyed scheme.

Redaction (schema version 5). A keyed event's MAC covers keyed digests of its actor and its data
(`actor_digest`, `data_digest`), not the values themselves, so `hitl forget` can replace personal data
in an event while every hash stays. A redacted event names the erasure event that did it
(`redacted_by`); that `subject_erased` event, itself chained, lists each redacted event's id, hash and a
MAC of its other fields. `verify` checks an unredacted event's content against its digests and a
redacted one against that list. Version 4 events (MAC over the values) can be redacted the same way:
their hash is then vouched for by the erasure event. A redacted event's former content is gone: only
its place in the chain, its other fields and the fact of its redaction remain provable.

Registry. When a chain gets its first keyed event (a new chain, or an old one continuing), one
entry is appended to a keyed registry chain in the same transaction: which chain, from which
position it is keyed, and that first keyed event's hash. That is the only global serialisation
point, once per chain; appends to existing chains lock only their own head.

Checkpoints. `checkpoint(db)` records, in a keyed chain of checkpoints, every chain's head and the
registry's head (meant to run periodically, e.g. at the end of a sweep). Only chains that moved are
rewritten in `audit_anchors`; the checkpoint's MAC covers a digest of all of them. It refuses
(writes nothing) when what it would anchor already contradicts the previous checkpoint.

What `verify` detects, for someone who can write to the database but does not hold the key:
- an event edited, inserted or removed anywhere in a keyed chain, even with every later hash and the
  head recomputed (the MACs cannot be recomputed without the key);
- a keyed chain passed off as unkeyed (the registry and the event order pin where keying started);
- a keyed chain deleted whole (events and head), or a keyed chain inserted: the registry lists every
  keyed chain; deleting its registry entry too breaks the registry chain unless the entry is the
  registry's tail, and removing tail entries is caught once a checkpoint has recorded them;
- a chain truncated (its head rewound to match), or deleted, or rewritten (even an unkeyed one) at or
  before the position the newest checkpoint recorded for it;
- an unkeyed chain that no checkpoint recorded, once any checkpoint exists (only code from before the
  upgrade writes unkeyed events, and the first checkpoint records all of those chains);
- a checkpoint or registry entry edited or removed from the middle; verifying with the wrong key.

What it cannot detect:
- events removed from the end of a chain after the newest checkpoint that recorded it (with the head
  rewound), and whole chains created after the newest checkpoint whose registry entries are the
  registry's tail and are removed with them: checkpoint often;
- the newest checkpoints removed with everything after the one left: the database rolled back to an
  earlier consistent state. Keep each checkpoint's hash (`hitl audit checkpoint --json`) somewhere
  the database's writers cannot change, and compare it with `verify`'s `checkpoint_hash`;
- unkeyed events from before the upgrade rewritten before the first checkpoint recorded them;
- what a redacted event said before its erasure (by design), beyond its digests;
- anything by someone who holds the key (it is a MAC, not a signature), and events that were never
  appended (the trail records what the runtime wrote, not what it should have written).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitl_core.canonical import canonical_json, loads, new_id, now_iso, sha256_hex
from hitl_core.db import Database, Row, Tx
from hitl_core.errors import HitlError
from hitl_core.settings import Settings, configured

GENESIS = "0" * 64
SYSTEM_STREAM = "system"
KEYED_SCHEME = "hmac-sha256+digests"
"""`audit_events.scheme` of keyed events written since schema version 5: the MAC covers keyed digests of
the actor and the data, so both can be redacted by an audited erasure while the chain verifies."""
KEYED_V4_SCHEME = "hmac-sha256"
"""Keyed events written under schema version 4: the MAC covers the actor and the data themselves.
NULL marks the unkeyed SHA-256 chain of rows older still."""
ERASURE_KIND = "subject_erased"
"""The event an erasure appends; its `events` list ([id, hash] pairs) is what may be redacted."""
REDACTED = "[erased]"
REGISTRY = "#registry"
"""How `VerifyResult.broken_stream` names the registry chain (thread ids never contain '#')."""
CHECKPOINTS = "#checkpoints"
"""How `VerifyResult.broken_stream` names the checkpoint chain."""
KEY_FILE_NAME = "audit.key"
_MIN_KEY_BYTES = 16


class AuditKeyError(HitlError):
    """The configured audit key is missing, unusable, or not the key this database's trail was written with."""


# -- keys -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditKey:
    """The HMAC key and its public fingerprint (`id`); `source` says where it came from."""

    secret: bytes = field(repr=False)
    source: str = "given"
    id: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.secret) < _MIN_KEY_BYTES:
            raise AuditKeyError(f"the audit key from {self.source} is shorter than {_MIN_KEY_BYTES} bytes")
        fingerprint = hmac.new(self.secret, b"hitl-audit-key-id", hashlib.sha256).hexdigest()[:16]
        object.__setattr__(self, "id", fingerprint)

    @classmethod
    def from_text(cls, text: str, source: str = "given") -> AuditKey:
        """A key written as hex (an even number of hex digits), or else as text (its UTF-8 bytes)."""
        text = text.strip()
        if not text:
            raise AuditKeyError(f"the audit key from {source} is empty")
        try:
            secret = bytes.fromhex(text) if len(text) % 2 == 0 else text.encode("utf-8")
        except ValueError:
            secret = text.encode("utf-8")
        return cls(secret, source)

    def mac(self, text: str) -> str:
        """Hex HMAC-SHA256 of UTF-8 text."""
        return hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


_KEY_LOCK = threading.Lock()
_FILE_KEYS: dict[str, AuditKey] = {}
_TEXT_KEYS: dict[str, AuditKey] = {}


def key_file_path(dialect: str, database_file: str | None, settings: Settings | None = None) -> Path:
    """Where the key file is: `HITL_AUDIT_KEY_FILE`, beside an SQLite file, or `.hitl/` here for PostgreSQL."""
    settings = settings or configured()
    if settings.audit_key_file:
        return Path(settings.audit_key_file).expanduser()
    if dialect == "sqlite" and database_file:
        return Path(database_file).parent / KEY_FILE_NAME
    return Path.cwd() / ".hitl" / KEY_FILE_NAME


def load_key(db: Database, *, settings: Settings | None = None, create: bool = True) -> AuditKey | None:
    """The audit key for this database; a new key file on first use when `create` (else None if absent)."""
    settings = settings or configured()
    database_file = os.path.abspath(db.target) if db.dialect == "sqlite" else None
    return _resolve(settings, db.dialect, database_file, create)


def _key_for_tx(tx: Tx) -> AuditKey:
    # Events are appended from every layer with only a transaction in hand, so the key's settings are
    # read here; the text keys are cached (`_TEXT_KEYS`), a key file is read once per path.
    settings = configured()
    database_file = None
    if not settings.audit_key and not settings.audit_key_file and tx.dialect == "sqlite":
        listed = tx.execute("PRAGMA database_list")  # in-process, no round trip
        database_file = next((r["file"] for r in listed if r["name"] == "main"), None) or None
    key = _resolve(settings, tx.dialect, database_file, True)
    assert key is not None
    return key


def _resolve(settings: Settings, dialect: str, database_file: str | None, create: bool) -> AuditKey | None:
    if settings.audit_key:
        with _KEY_LOCK:
            key = _TEXT_KEYS.get(settings.audit_key)
            if key is None:
                key = _TEXT_KEYS[settings.audit_key] = AuditKey.from_text(settings.audit_key, "HITL_AUDIT_KEY")
        return key
    path = str(key_file_path(dialect, database_file, settings))
    with _KEY_LOCK:
        key = _FILE_KEYS.get(path)
        if key is not None:
            return key
        if not os.path.exists(path):
            if not create:
                return None
            _create_key_file(Path(path))
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise AuditKeyError(f"cannot read the audit key file {path}: {exc.strerror or exc}") from exc
        key = _FILE_KEYS[path] = AuditKey.from_text(text, path)
        return key


def _create_key_file(path: Path) -> None:
    """32 random bytes as hex, mode 0600; several processes racing on first use all end up with one key."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process won the race: use its key
                os.link(temporary, path)  # atomic: nobody reads a half-written key
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise AuditKeyError(f"cannot create the audit key file {path}: {exc.strerror or exc}") from exc


def _mismatch(what: str, key_id: str, key: AuditKey) -> AuditKeyError:
    return AuditKeyError(
        f"{what} is keyed with audit key {key_id}, but the configured key ({key.source}) is {key.id}: "
        "set HITL_AUDIT_KEY or HITL_AUDIT_KEY_FILE to the key this database was written with"
    )


# -- appending ------------------------------------------------------------------------------------
_HASHED_FIELDS = (
    "id",
    "stream",
    "stream_seq",
    "kind",
    "thread_id",
    "review_id",
    "action_id",
    "actor",
    "at",
    "payload_hash",
    "data",
)


def content_digest(key: AuditKey, name: str, value: str) -> str:
    """Keyed digest of an event's actor or data: what the chain covers, so the value itself can be erased.

    Keyed, so that nobody without the key can test a guessed name or email against a stored digest.
    """
    return key.mac(f"{name}\n{value}")


def event_hash(prev_hash: str, event: dict[str, Any], key: AuditKey | None) -> str:
    """An event's hash: HMAC under `key`, or plain SHA-256 (`key` None: rows from before the key).

    The HMAC covers the digests of the actor and data (this scheme), or them (version 4 rows).
    """
    fields = {k: event[k] for k in _HASHED_FIELDS}
    if key is None:
        return sha256_hex(prev_hash + canonical_json(fields))
    if event.get("scheme") == KEYED_SCHEME:
        del fields["actor"], fields["data"]
        fields["actor_digest"] = event["actor_digest"]
        fields["data_digest"] = event["data_digest"]
        fields["scheme"] = KEYED_SCHEME
    else:
        fields["scheme"] = KEYED_V4_SCHEME
    fields["key_id"] = key.id
    return key.mac(prev_hash + canonical_json(fields))


def append(
    tx: Tx,
    kind: str,
    actor: str,
    data: dict[str, Any],
    *,
    thread_id: str | None = None,
    review_id: str | None = None,
    action_id: str | None = None,
    payload_hash: str | None = None,
) -> str:
    """Append one event to its thread's chain inside the caller's transaction; return its id.

    Three statements for an existing chain (lock the head, insert, move the head; on PostgreSQL the
    last two are one statement, a data-modifying WITH); a new chain also
    appends its registry entry (three more, under the registry's lock, once per chain).
    """
    key = _key_for_tx(tx)
    stream = thread_id or SYSTEM_STREAM
    lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    head = tx.one(f"SELECT seq, hash, key_id FROM audit_heads WHERE stream = :s{lock}", {"s": stream})
    event: dict[str, Any] = {
        "id": new_id("ev"),
        "stream": stream,
        "stream_seq": 1,
        "kind": kind,
        "thread_id": thread_id,
        "review_id": review_id,
        "action_id": action_id,
        "actor": actor,
        "at": now_iso(),
        "payload_hash": payload_hash,
        "data": canonical_json(data),
        "scheme": KEYED_SCHEME,
        "key_id": key.id,
    }
    event["actor_digest"] = content_digest(key, "actor", actor)
    event["data_digest"] = content_digest(key, "data", event["data"])
    if head is None:
        # A new chain: its head row is created already pointing at its first event.
        event["prev_hash"] = GENESIS
        event["hash"] = event_hash(GENESIS, event, key)
        created = tx.rowcount(
            "INSERT INTO audit_heads (stream, seq, hash, key_id) VALUES (:s, 1, :h, :k) ON CONFLICT DO NOTHING",
            {"s": stream, "h": event["hash"], "k": key.id},
        )
        if created == 1:
            _register(tx, key, stream, 1, event["hash"])
            _insert_event(tx, event)
            return str(event["id"])
        head = tx.one(f"SELECT seq, hash, key_id FROM audit_heads WHERE stream = :s{lock}", {"s": stream})
        assert head is not None
    if head["key_id"] is not None and head["key_id"] != key.id:
        raise _mismatch(f"the audit chain of {stream}", head["key_id"], key)
    event["stream_seq"] = int(head["seq"]) + 1
    event["prev_hash"] = head["hash"]
    event["hash"] = event_hash(head["hash"], event, key)
    if head["key_id"] is not None and tx.dialect == "postgresql":
        # The event and the head's move in one statement (one round trip instead of two).
        tx.execute(f"WITH event AS ({_INSERT_EVENT}) {_MOVE_HEAD}", event)
        return str(event["id"])
    _insert_event(tx, event)
    if head["key_id"] is None:  # an unkeyed chain from before the key continues keyed from here
        _register(tx, key, stream, event["stream_seq"], event["hash"])
    tx.execute(_MOVE_HEAD, event)
    return str(event["id"])


def thread_events(tx: Tx, thread_id: str, kinds: tuple[str, ...], review_id: str | None = None) -> list[dict[str, Any]]:
    """The data of a thread's (or one of its reviews') events of these kinds, oldest first.

    A node that re-runs reads here what it wrote on an earlier run, so that it writes it once.
    """
    names = {f"k{i}": kind for i, kind in enumerate(kinds)}
    review = " AND review_id = :r" if review_id is not None else ""
    rows = tx.execute(
        f"SELECT data FROM audit_events WHERE thread_id = :t{review} "
        f"AND kind IN ({', '.join(':' + n for n in names)}) ORDER BY stream_seq",
        {"t": thread_id, "r": review_id, **names},
    )
    return [loads(row["data"], {}) for row in rows]


_INSERT_EVENT = """INSERT INTO audit_events (id, stream, stream_seq, kind, thread_id, review_id, action_id,
        actor, at, payload_hash, data, prev_hash, hash, scheme, key_id, actor_digest, data_digest)
    VALUES (:id, :stream, :stream_seq, :kind, :thread_id, :review_id, :action_id,
        :actor, :at, :payload_hash, :data, :prev_hash, :hash, :scheme, :key_id, :actor_digest, :data_digest)"""
_MOVE_HEAD = "UPDATE audit_heads SET seq = :stream_seq, hash = :hash, key_id = :key_id WHERE stream = :stream"
"""The chain's head moves to the event just inserted (its row is locked by the append's SELECT ... FOR UPDATE)."""


def _insert_event(tx: Tx, event: dict[str, Any]) -> None:
    tx.execute(_INSERT_EVENT, event)


def _registry_hash(prev_hash: str, entry: dict[str, Any], key: AuditKey) -> str:
    fields = {k: entry[k] for k in ("seq", "stream", "keyed_from", "first_hash", "at", "key_id")}
    return key.mac(prev_hash + canonical_json({"chain": "registry", **fields}))


def _register(tx: Tx, key: AuditKey, stream: str, keyed_from: int, first_hash: str) -> None:
    """One registry entry for a chain's first keyed event (same transaction, under the registry's lock)."""
    lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    head = tx.one(f"SELECT seq, hash, key_id FROM audit_chain_heads WHERE name = 'registry'{lock}")
    if head is None:
        raise HitlError("the audit registry is missing: run `hitl db upgrade`")
    if head["key_id"] is not None and head["key_id"] != key.id:
        raise _mismatch("the audit registry", head["key_id"], key)
    entry = {
        "seq": int(head["seq"]) + 1,
        "stream": stream,
        "keyed_from": keyed_from,
        "first_hash": first_hash,
        "at": now_iso(),
        "key_id": key.id,
        "prev_hash": head["hash"],
    }
    entry["hash"] = _registry_hash(head["hash"], entry, key)
    tx.execute(
        """INSERT INTO audit_registry (seq, stream, keyed_from, first_hash, at, key_id, prev_hash, hash)
           VALUES (:seq, :stream, :keyed_from, :first_hash, :at, :key_id, :prev_hash, :hash)""",
        entry,
    )
    tx.execute(
        "UPDATE audit_chain_heads SET seq = :seq, hash = :hash, key_id = :key_id WHERE name = 'registry'",
        entry,
    )


# -- checkpoints ----------------------------------------------------------------------------------
def _checkpoint_hash(prev_hash: str, row: dict[str, Any], key: AuditKey) -> str:
    names = ("seq", "at", "registry_seq", "registry_hash", "streams", "events", "digest", "key_id")
    fields = {k: row[k] for k in names}
    return key.mac(prev_hash + canonical_json({"chain": "checkpoints", **fields}))


def _anchors_digest(anchors: Iterable[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for row in sorted(anchors, key=lambda r: str(r["stream"])):
        line = [row["stream"], int(row["seq"]), row["hash"], int(row["checkpoint"])]
        digest.update((canonical_json(line) + "\n").encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True)
class CheckpointResult:
    """Outcome of `checkpoint`: the newest checkpoint (new, or unchanged when nothing moved), or why it refused."""

    ok: bool
    seq: int | None
    created: bool
    streams: int
    events: int
    changed: int
    registry_seq: int
    hash: str | None
    at: str | None
    key_id: str | None
    broken_stream: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the CLI."""
        return {
            "ok": self.ok,
            "seq": self.seq,
            "created": self.created,
            "streams": self.streams,
            "events": self.events,
            "changed": self.changed,
            "registry_seq": self.registry_seq,
            "hash": self.hash,
            "at": self.at,
            "key_id": self.key_id,
            "broken_stream": self.broken_stream,
            "reason": self.reason,
        }


def checkpoint(db: Database, *, key: AuditKey | None = None, batch: int = 200) -> CheckpointResult:
    """Record every chain's head and the registry's head in a new signed checkpoint.

    Writes nothing when nothing moved since the newest checkpoint, and refuses (ok False, nothing
    written) when a chain no longer reaches the position the newest checkpoint recorded, or the
    event at a chain's new head does not carry the head's hash or a valid MAC.
    """
    key = key or load_key(db, create=True)
    assert key is not None
    with db.transaction() as tx:
        lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
        head = tx.one(f"SELECT seq, hash, key_id FROM audit_chain_heads WHERE name = 'checkpoints'{lock}")
        registry = tx.one("SELECT seq, hash FROM audit_chain_heads WHERE name = 'registry'")
        if head is None or registry is None:
            raise HitlError("the audit checkpoint tables are missing: run `hitl db upgrade`")
        if head["key_id"] is not None and head["key_id"] != key.id:
            raise _mismatch("the audit checkpoints", head["key_id"], key)
        previous = tx.one("SELECT * FROM audit_checkpoints WHERE seq = :q", {"q": head["seq"]}) if head["seq"] else None
        heads = {r["stream"]: r for r in tx.execute("SELECT stream, seq, hash FROM audit_heads")}
        anchors = {r["stream"]: r for r in tx.execute("SELECT stream, seq, hash, checkpoint FROM audit_anchors")}

        def refuse(stream: str, reason: str) -> CheckpointResult:
            return CheckpointResult(
                False, head["seq"] or None, False, 0, 0, 0, int(registry["seq"]), None, None, key.id, stream, reason
            )

        failure = _check_since_previous(tx, key, head, previous, registry, anchors)
        if failure:
            return refuse(*failure)
        for stream, anchor in anchors.items():
            current = heads.get(stream)
            if current is None or int(current["seq"]) < int(anchor["seq"]):
                return refuse(stream, f"the chain is shorter than checkpoint {anchor['checkpoint']} recorded")
        changed = _moved_streams(heads, anchors)
        if previous is not None and not changed and int(previous["registry_seq"]) == int(registry["seq"]):
            return _checkpoint_result(previous, created=False, changed=0)
        for start in range(0, len(changed), batch):
            failure = _check_moved(tx, key, changed[start : start + batch], heads, anchors)
            if failure:
                return refuse(*failure)
        number = int(head["seq"]) + 1
        _write_anchors(tx, changed, heads, anchors, number, batch)
        row = _write_checkpoint(tx, number, registry, anchors, key, head["hash"])
    return _checkpoint_result(row, created=True, changed=len(changed))


def _moved_streams(heads: dict[str, Any], anchors: dict[str, Any]) -> list[str]:
    """Streams whose head is new or has moved since the anchor the last checkpoint recorded, sorted."""
    return sorted(
        s
        for s, h in heads.items()
        if s not in anchors or (int(anchors[s]["seq"]), anchors[s]["hash"]) != (int(h["seq"]), h["hash"])
    )


def _write_anchors(
    tx: Tx, changed: list[str], heads: dict[str, Any], anchors: dict[str, Any], number: int, batch: int
) -> None:
    """Anchor each moved stream's head to checkpoint `number`, in `anchors` and in batched upserts."""
    for stream in changed:
        anchors[stream] = {
            "stream": stream,
            "seq": heads[stream]["seq"],
            "hash": heads[stream]["hash"],
            "checkpoint": number,
        }
    for start in range(0, len(changed), batch):
        chunk = changed[start : start + batch]
        params: dict[str, Any] = {"c": number}
        values = []
        for i, stream in enumerate(chunk):
            params.update({f"s{i}": stream, f"q{i}": heads[stream]["seq"], f"h{i}": heads[stream]["hash"]})
            values.append(f"(:s{i}, :q{i}, :h{i}, :c)")
        tx.execute(
            f"""INSERT INTO audit_anchors (stream, seq, hash, checkpoint) VALUES {", ".join(values)}
                ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
                checkpoint = excluded.checkpoint""",
            params,
        )


def _write_checkpoint(
    tx: Tx, number: int, registry: Row, anchors: dict[str, Any], key: AuditKey, prev_hash: str
) -> dict[str, Any]:
    """Sign and store checkpoint `number` over the anchors and the registry's head, chained to the previous one."""
    row = {
        "seq": number,
        "at": now_iso(),
        "registry_seq": int(registry["seq"]),
        "registry_hash": registry["hash"],
        "streams": len(anchors),
        "events": sum(int(a["seq"]) for a in anchors.values()),
        "digest": _anchors_digest(anchors.values()),
        "key_id": key.id,
        "prev_hash": prev_hash,
    }
    row["hash"] = _checkpoint_hash(prev_hash, row, key)
    tx.execute(
        """INSERT INTO audit_checkpoints (seq, at, registry_seq, registry_hash, streams, events, digest, key_id,
               prev_hash, hash)
           VALUES (:seq, :at, :registry_seq, :registry_hash, :streams, :events, :digest, :key_id,
               :prev_hash, :hash)""",
        row,
    )
    tx.execute(
        "UPDATE audit_chain_heads SET seq = :seq, hash = :hash, key_id = :key_id WHERE name = 'checkpoints'", row
    )
    return row


def _check_since_previous(
    tx: Tx,
    key: AuditKey,
    head: dict[str, Any],
    previous: dict[str, Any] | None,
    registry: dict[str, Any],
    anchors: dict[str, Any],
) -> tuple[str, str] | None:
    """What a new checkpoint would build on is what the newest one signed: no tampering gets countersigned."""
    if previous is None:
        if int(head["seq"]) or anchors:
            return CHECKPOINTS, f"checkpoint {head['seq']} is missing"
    else:
        if (
            previous["hash"] != head["hash"]
            or previous["key_id"] != key.id
            or _checkpoint_hash(previous["prev_hash"], previous, key) != previous["hash"]
        ):
            return CHECKPOINTS, f"checkpoint {previous['seq']} does not match its MAC or the chain's head"
        if len(anchors) != int(previous["streams"]) or _anchors_digest(anchors.values()) != previous["digest"]:
            return CHECKPOINTS, f"the chain positions recorded by checkpoint {previous['seq']} were changed"
        if int(registry["seq"]) < int(previous["registry_seq"]):
            return REGISTRY, f"the registry has fewer entries than checkpoint {previous['seq']} recorded"
        if int(previous["registry_seq"]):
            recorded = tx.scalar("SELECT hash FROM audit_registry WHERE seq = :q", {"q": previous["registry_seq"]})
            if recorded != previous["registry_hash"]:
                return REGISTRY, f"registry entry {previous['registry_seq']} differs from checkpoint {previous['seq']}"
    if int(registry["seq"]):
        entry = tx.one("SELECT * FROM audit_registry WHERE seq = :q", {"q": registry["seq"]})
        if (
            entry is None
            or entry["hash"] != registry["hash"]
            or _registry_hash(entry["prev_hash"], entry, key) != entry["hash"]
        ):
            return REGISTRY, "the registry's last entry does not match its head or its MAC"
    return None


def _checkpoint_result(row: dict[str, Any], *, created: bool, changed: int) -> CheckpointResult:
    return CheckpointResult(
        True,
        int(row["seq"]),
        created,
        int(row["streams"]),
        int(row["events"]),
        changed,
        int(row["registry_seq"]),
        row["hash"],
        row["at"],
        row["key_id"],
    )


def _check_moved(
    tx: Tx, key: AuditKey, streams: list[str], heads: dict[str, Any], anchors: dict[str, Any]
) -> tuple[str, str] | None:
    """For chains that moved: the event at the old anchor still has its hash; the new head's event is genuine."""
    params: dict[str, Any] = {}
    clauses = []
    for i, stream in enumerate(streams):
        positions = [int(heads[stream]["seq"])]
        if stream in anchors:
            positions.append(int(anchors[stream]["seq"]))
        params[f"s{i}"] = stream
        names = []
        for j, position in enumerate(positions):
            params[f"p{i}_{j}"] = position
            names.append(f":p{i}_{j}")
        clauses.append(f"(stream = :s{i} AND stream_seq IN ({', '.join(names)}))")
    rows = tx.execute(f"SELECT * FROM audit_events WHERE {' OR '.join(clauses)}", params)
    found = {(r["stream"], int(r["stream_seq"])): r for r in rows}
    for stream in streams:
        anchor = anchors.get(stream)
        if anchor is not None:
            event = found.get((stream, int(anchor["seq"])))
            if event is None or event["hash"] != anchor["hash"]:
                return stream, f"event {anchor['seq']} differs from checkpoint {anchor['checkpoint']}"
        head = heads[stream]
        event = found.get((stream, int(head["seq"])))
        if event is None or event["hash"] != head["hash"]:
            return stream, "the chain's last event does not match its head"
        if event["scheme"] in (KEYED_SCHEME, KEYED_V4_SCHEME):
            if event["key_id"] != key.id:
                return stream, f"the chain's last event is keyed with audit key {event['key_id']}, not {key.id}"
            redacted_v4 = event["scheme"] == KEYED_V4_SCHEME and event["redacted_by"]  # checked by verify
            if not redacted_v4 and event_hash(event["prev_hash"], event, key) != event["hash"]:
                return stream, "the chain's last event does not match its MAC"
    return None


# -- verifying ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify`: ok, or the first broken event and why."""

    ok: bool
    events: int
    streams: int
    broken_event: str | None = None
    broken_stream: str | None = None
    reason: str | None = None
    registered: int = 0
    """Entries in the registry (chains with keyed events)."""
    legacy_events: int = 0
    """Events of the unkeyed scheme (written before the key), verified as plain SHA-256 chains."""
    checkpoint: int | None = None
    """The newest checkpoint, which every chain was checked against (None: no checkpoint yet)."""
    checkpoint_hash: str | None = None
    """Its hash: compare with one kept outside the database to detect a rollback of the newest checkpoints."""
    key_id: str | None = None
    """Fingerprint of the key verified with."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the CLI."""
        return {
            "ok": self.ok,
            "events": self.events,
            "streams": self.streams,
            "broken_event": self.broken_event,
            "broken_stream": self.broken_stream,
            "reason": self.reason,
            "registered": self.registered,
            "legacy_events": self.legacy_events,
            "checkpoint": self.checkpoint,
            "checkpoint_hash": self.checkpoint_hash,
            "key_id": self.key_id,
        }


@dataclass
class _Tally:
    streams: int = 0
    events: int = 0
    legacy: int = 0
    registered: int = 0
    checkpoint: int | None = None
    checkpoint_hash: str | None = None
    key_id: str | None = None

    def result(self, event: str | None = None, stream: str | None = None, reason: str | None = None) -> VerifyResult:
        return VerifyResult(
            reason is None,
            self.events,
            self.streams,
            event,
            stream,
            reason,
            self.registered,
            self.legacy,
            self.checkpoint,
            self.checkpoint_hash,
            self.key_id,
        )


def verify(db: Database, *, key: AuditKey | None = None, batch: int = 500) -> VerifyResult:
    """Recompute every chain, the registry and the checkpoints in one snapshot; name the first thing wrong.

    `key` defaults to the configured one (never created here: a missing key fails when keyed rows exist).
    """
    key = key or load_key(db, create=False)
    tally = _Tally(key_id=key.id if key else None)
    with db.transaction(write=False) as tx:
        if tx.dialect == "postgresql":  # one snapshot: appends committing meanwhile never look like breaks
            tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        heads = {
            h["stream"]: h for h in tx.execute("SELECT stream, seq, hash, key_id FROM audit_heads ORDER BY stream")
        }
        tally.streams = len(heads)
        orphan = tx.one(
            "SELECT e.id, e.stream FROM audit_events e LEFT JOIN audit_heads h ON h.stream = e.stream "
            "WHERE h.stream IS NULL LIMIT 1"
        )
        if orphan:
            return tally.result(orphan["id"], orphan["stream"], "chain head missing")
        registry_rows = tx.execute("SELECT * FROM audit_registry ORDER BY seq")
        checkpoint_rows = tx.execute("SELECT * FROM audit_checkpoints ORDER BY seq")
        chain_heads = {r["name"]: r for r in tx.execute("SELECT name, seq, hash, key_id FROM audit_chain_heads")}
        anchor_rows = tx.execute("SELECT stream, seq, hash, checkpoint FROM audit_anchors")
        tally.registered = len(registry_rows)
        if key is None and (registry_rows or checkpoint_rows or any(h["key_id"] for h in heads.values())):
            where = key_file_path(db.dialect, os.path.abspath(db.target) if db.dialect == "sqlite" else None)
            return tally.result(None, None, f"no audit key: set HITL_AUDIT_KEY, or provide the key file {where}")
        failure = _verify_chain(REGISTRY, registry_rows, chain_heads.get("registry"), key, _registry_hash)
        if failure is None:
            failure = _verify_chain(CHECKPOINTS, checkpoint_rows, chain_heads.get("checkpoints"), key, _checkpoint_hash)
        if failure:
            return tally.result(*failure)
        registry = {r["stream"]: r for r in registry_rows}
        anchors = {a["stream"]: a for a in anchor_rows}
        erasures = _erasures(tx)
        newest = checkpoint_rows[-1] if checkpoint_rows else None
        if newest is not None:
            tally.checkpoint, tally.checkpoint_hash = int(newest["seq"]), newest["hash"]
            broken = _verify_newest_checkpoint(newest, registry_rows, anchor_rows)
            if broken:
                return tally.result(None, *broken)
        elif anchor_rows:
            return tally.result(None, CHECKPOINTS, "chain positions are recorded but no checkpoint signs them")
        missing = _missing_chain(heads, registry, anchors)
        if missing:
            return tally.result(None, *missing)
        failure = _verify_streams(tx, heads, key, registry, anchors, newest is not None, erasures, tally, batch)
        if failure:
            return tally.result(*failure)
    return tally.result()


def _missing_chain(heads: dict[str, Any], registry: dict[str, Any], anchors: dict[str, Any]) -> tuple[str, str] | None:
    """A chain the registry or a checkpoint recorded that no longer has a head: it was deleted."""
    for stream, entry in registry.items():
        if stream not in heads:
            return stream, f"registered chain (registry entry {entry['seq']}) is missing: deleted"
    for stream, anchor in anchors.items():
        if stream not in heads:
            return stream, f"chain recorded by checkpoint {anchor['checkpoint']} is missing: deleted"
    return None


def _verify_streams(
    tx: Tx,
    heads: dict[str, Any],
    key: AuditKey | None,
    registry: dict[str, Any],
    anchors: dict[str, Any],
    checkpointed: bool,
    erasures: Erasures,
    tally: _Tally,
    batch: int,
) -> tuple[str | None, str, str] | None:
    """Every stream's events against its head, registry entry and anchor, read `batch` streams at a time; counted."""
    names = sorted(heads)
    for start in range(0, len(names), batch):
        chunk = names[start : start + batch]
        params = {f"s{i}": name for i, name in enumerate(chunk)}
        placeholders = ", ".join(f":s{i}" for i in range(len(chunk)))
        rows = tx.execute(
            f"SELECT * FROM audit_events WHERE stream IN ({placeholders}) ORDER BY stream, stream_seq", params
        )
        by_stream: dict[str, list[dict[str, Any]]] = {name: [] for name in chunk}
        for row in rows:
            by_stream[row["stream"]].append(row)
        for name in chunk:
            events = by_stream[name]
            tally.events += len(events)
            tally.legacy += sum(1 for e in events if e["scheme"] is None)
            stream_failure = _verify_stream(
                name, events, heads[name], key, registry.get(name), anchors.get(name), checkpointed, erasures
            )
            if stream_failure:
                event_id, reason = stream_failure
                return event_id, name, reason
    return None


def _verify_chain(
    name: str, rows: list[dict[str, Any]], head: dict[str, Any] | None, key: AuditKey | None, hasher: Any
) -> tuple[str | None, str, str] | None:
    """The registry or checkpoint chain: positions, links, key, MACs, and its head."""
    if head is None:
        return None, name, "the chain's head row is missing"
    prev = GENESIS
    for position, row in enumerate(rows, start=1):
        label = f"{name[1:]} entry {row['seq']}"
        if int(row["seq"]) != position:
            return None, name, f"gap before {label} (expected {position}): entries removed"
        if row["prev_hash"] != prev:
            return None, name, f"{label} does not link to the previous one: an entry was removed or changed"
        if key is None or row["key_id"] != key.id:
            verifying = key.id if key else "none"
            return None, name, f"{label} is keyed with audit key {row['key_id']}, not the verifying key ({verifying})"
        if hasher(prev, row, key) != row["hash"]:
            return None, name, f"{label} does not match its MAC: edited, or verified with the wrong key"
        prev = row["hash"]
    if int(head["seq"]) != len(rows) or head["hash"] != prev:
        return None, name, f"the chain has {len(rows)} entries but its head says {head['seq']}: entries removed"
    return None


def _verify_newest_checkpoint(
    newest: dict[str, Any], registry_rows: list[dict[str, Any]], anchor_rows: list[dict[str, Any]]
) -> tuple[str, str] | None:
    registry_seq = int(newest["registry_seq"])
    if registry_seq > len(registry_rows):
        return REGISTRY, (
            f"the registry has {len(registry_rows)} entries but checkpoint {newest['seq']} recorded {registry_seq}: "
            "entries (and the chains they name) removed"
        )
    if registry_seq and registry_rows[registry_seq - 1]["hash"] != newest["registry_hash"]:
        return REGISTRY, f"registry entry {registry_seq} differs from checkpoint {newest['seq']}"
    if len(anchor_rows) != int(newest["streams"]) or _anchors_digest(anchor_rows) != newest["digest"]:
        return CHECKPOINTS, f"the chain positions recorded by checkpoint {newest['seq']} were changed"
    return None


def _verify_stream(
    stream: str,
    events: list[dict[str, Any]],
    head: dict[str, Any],
    key: AuditKey | None,
    registered: dict[str, Any] | None,
    anchor: dict[str, Any] | None,
    checkpointed: bool,
    erasures: Erasures,
) -> tuple[str | None, str] | None:
    prev = GENESIS
    keyed_from = int(registered["keyed_from"]) if registered else None
    for position, event in enumerate(events, start=1):
        if int(event["stream_seq"]) != position:
            return event["id"], f"sequence gap before event {event['stream_seq']} (expected {position})"
        if event["prev_hash"] != prev:
            return event["id"], "link to the previous event does not match (an event was removed or changed)"
        if event["scheme"] is None:
            if keyed_from is not None and position >= keyed_from:
                return event["id"], (
                    f"event {position} claims the unkeyed scheme but the chain is keyed from event {keyed_from} "
                    "(rewritten without the key)"
                )
            expected = event_hash(prev, event, None)
            if event["redacted_by"]:
                expected = _redacted_hash(event, erasures, key) or expected
        elif event["scheme"] in (KEYED_SCHEME, KEYED_V4_SCHEME):
            if keyed_from is None:
                return event["id"], "keyed chain missing from the registry (inserted, or its registry entry removed)"
            if position < keyed_from:
                return event["id"], f"keyed event {position} before where the registry says keying began ({keyed_from})"
            if key is None or event["key_id"] != key.id:
                verifying = key.id if key else "none"
                return event["id"], f"written with audit key {event['key_id']}, not the verifying key ({verifying})"
            expected = event_hash(prev, event, key)
            if event["redacted_by"]:
                redacted = _redacted_hash(event, erasures, key)
                if redacted is None:
                    return event["id"], "redacted, but no audited erasure lists it (the event was edited)"
                if event["scheme"] == KEYED_V4_SCHEME:
                    expected = redacted  # its MAC covers the erased content: the erasure vouches for it
            elif event["scheme"] == KEYED_SCHEME and (
                content_digest(key, "actor", event["actor"]) != event["actor_digest"]
                or content_digest(key, "data", event["data"]) != event["data_digest"]
            ):
                return event["id"], "contents do not match the event's hash (the event was edited)"
        else:
            return event["id"], f"unknown chain scheme {event['scheme']!r}"
        if expected != event["hash"]:
            return event["id"], "contents do not match the event's hash (the event was edited)"
        if registered is not None and position == keyed_from and event["hash"] != registered["first_hash"]:
            return event["id"], f"first keyed event differs from registry entry {registered['seq']}"
        prev = event["hash"]
    if int(head["seq"]) != len(events) or head["hash"] != prev:
        last = events[-1]["id"] if events else None
        return last, f"chain ends at {len(events)} events but its head says {head['seq']} (events removed)"
    if keyed_from is not None and len(events) < keyed_from:
        last = events[-1]["id"] if events else None
        return (
            last,
            f"the registry says the chain is keyed from event {keyed_from}; it has {len(events)} (events removed)",
        )
    if anchor is not None:
        position = int(anchor["seq"])
        if len(events) < position:
            last = events[-1]["id"] if events else None
            return last, (
                f"chain has {len(events)} events but checkpoint {anchor['checkpoint']} recorded {position} "
                "(events removed, head rewound)"
            )
        if events[position - 1]["hash"] != anchor["hash"]:
            return events[position - 1]["id"], (
                f"event {position} differs from checkpoint {anchor['checkpoint']} (the chain was rewritten)"
            )
    elif registered is None and checkpointed and events:
        return events[0]["id"], "unkeyed chain that no checkpoint recorded (inserted after the upgrade)"
    return None


_FIXED_FIELDS = tuple(k for k in _HASHED_FIELDS if k not in ("actor", "data"))


def _fields_mac(key: AuditKey, event: dict[str, Any]) -> str:
    """MAC of an event's fields other than actor and data: what stays checkable on a redacted version 4 event."""
    return key.mac("fields\n" + canonical_json({k: event[k] for k in _FIXED_FIELDS}))


def vouch(tx: Tx, events: list[dict[str, Any]]) -> list[list[str]]:
    """What an erasure event records of each event it redacts: [id, hash, MAC of the other fields]."""
    key = _key_for_tx(tx)
    return [[str(e["id"]), str(e["hash"]), _fields_mac(key, e)] for e in events]


Erasures = dict[str, dict[str, tuple[str, str]]]


def _erasures(tx: Tx) -> Erasures:
    """Per erasure event: the events it redacted, their hashes and fields' MACs (verified with the chains)."""
    rows = tx.execute("SELECT id, data FROM audit_events WHERE kind = :k", {"k": ERASURE_KIND})
    return {
        r["id"]: {
            str(e[0]): (str(e[1]), str(e[2]) if len(e) > 2 else "") for e in loads(r["data"], {}).get("events", [])
        }
        for r in rows
    }


def _redacted_hash(event: dict[str, Any], erasures: Erasures, key: AuditKey | None) -> str | None:
    """The hash the erasure named in `redacted_by` recorded for this event, if it lists it unchanged."""
    recorded = erasures.get(str(event["redacted_by"]), {}).get(str(event["id"]))
    if recorded is None or recorded[0] != event["hash"]:
        return None
    if key is not None and recorded[1] != _fields_mac(key, event):
        return None
    return recorded[0]


def redact(tx: Tx, erasure_id: str, changes: list[dict[str, Any]]) -> None:
    """Replace events' actor and data (each `changes` item: id, actor, data) on behalf of an erasure event.

    The erasure event must already list each event with its hash; the chains' hashes are not touched.
    """
    for change in changes:
        tx.execute(
            "UPDATE audit_events SET actor = :actor, data = :data, redacted_by = :e WHERE id = :id",
            {"actor": change["actor"], "data": change["data"], "e": erasure_id, "id": change["id"]},
        )


def thread_history(db: Database, thread_id: str) -> list[dict[str, Any]]:
    """A thread's events in order, with their data decoded."""
    rows = db.read("SELECT * FROM audit_events WHERE stream = :s ORDER BY stream_seq", {"s": thread_id})
    return [_decoded(row) for row in rows]


def search(
    db: Database,
    *,
    thread_id: str | None = None,
    actor: str | None = None,
    kind: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Events filtered by thread, actor, kind, action name and time, newest first."""
    where: list[str] = ["1 = 1"]
    params: dict[str, Any] = {"limit": limit}
    for column, value in (("thread_id", thread_id), ("actor", actor), ("kind", kind)):
        if value:
            where.append(f"{column} = :{column}")
            params[column] = value
    if action:
        where.append("data LIKE :action_like")
        params["action_like"] = f'%"action":"{action}"%'
    if since:
        where.append("at >= :since")
        params["since"] = since
    if until:
        where.append("at <= :until")
        params["until"] = until
    rows = db.read(f"SELECT * FROM audit_events WHERE {' AND '.join(where)} ORDER BY at DESC LIMIT :limit", params)
    return [_decoded(row) for row in rows]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["data"] = loads(row["data"], {})
    return out
