"""Tables shaped for the dashboard's questions.

`nodes` keeps scalar columns for every filter and sort plus the raw status as JSON; installed
models, loaded models, GPUs and labels are child rows so that "which nodes have model X",
"GPU vendor" and "label a=b" are indexed lookups instead of JSON scans.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware on every backend: SQLite stores no zone, so UTC is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: *_at columns take aware datetimes")
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON,
        int: BigInteger,
    }


def _fk() -> ForeignKey:
    return ForeignKey("nodes.name", ondelete="CASCADE")


class Node(Base):
    __tablename__ = "nodes"

    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    uid: Mapped[str | None] = mapped_column(String(64))
    resource_version: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), index=True)
    display_name: Mapped[str | None] = mapped_column(String(253))
    host_id: Mapped[str | None] = mapped_column(String(253))
    phase: Mapped[str] = mapped_column(String(16), index=True, default="Pending")
    phase_since: Mapped[datetime | None]
    ollama_version: Mapped[str | None] = mapped_column(String(64), index=True)
    ollama_reachable: Mapped[bool] = mapped_column(Boolean, default=False)
    gpu_count: Mapped[int] = mapped_column(Integer, default=0)
    gpu_summary: Mapped[str] = mapped_column(String(512), default="")
    vram_total_bytes: Mapped[int] = mapped_column(default=0, index=True)
    vram_loaded_bytes: Mapped[int] = mapped_column(default=0)
    vram_free_bytes: Mapped[int] = mapped_column(default=0, index=True)
    ram_total_bytes: Mapped[int] = mapped_column(default=0)
    ram_available_bytes: Mapped[int] = mapped_column(default=0)
    model_count: Mapped[int] = mapped_column(Integer, default=0)
    loaded_count: Mapped[int] = mapped_column(Integer, default=0)
    os_summary: Mapped[str] = mapped_column(String(256), default="")
    cpu_summary: Mapped[str] = mapped_column(String(256), default="")
    agent_version: Mapped[str | None] = mapped_column(String(64))
    # Lower-cased name, display name, GPU names and model names: one LIKE for the search box.
    # On PostgreSQL a pg_trgm GIN index (migration 0002, not declared here: it is PostgreSQL-only
    # and depends on the extension) serves selective searches.
    search_text: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report_digest: Mapped[str | None] = mapped_column(String(64))
    # sha256 of the installed + loaded model lists: a change there is a "models.changed" event.
    models_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime | None]


class NodeModel(Base):
    """One installed model on one node."""

    __tablename__ = "node_models"

    node_name: Mapped[str] = mapped_column(_fk(), primary_key=True)
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    digest: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    family: Mapped[str | None] = mapped_column(String(64))
    parameter_size: Mapped[str | None] = mapped_column(String(32))
    quantization_level: Mapped[str | None] = mapped_column(String(32))
    modified_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_node_models_name_digest", "name", "digest"),
        # "which nodes have model X" straight from the index (migration 0002).
        Index("ix_node_models_name_node", "name", "node_name"),
    )


class NodeLoadedModel(Base):
    """One model held in memory on one node."""

    __tablename__ = "node_loaded_models"

    node_name: Mapped[str] = mapped_column(_fk(), primary_key=True)
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    digest: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    size_vram: Mapped[int | None]
    context_length: Mapped[int | None]
    expires_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_node_loaded_models_name_node", "name", "node_name"),)


class NodeGpu(Base):
    __tablename__ = "node_gpus"

    node_name: Mapped[str] = mapped_column(_fk(), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    vendor: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(253))
    memory_total_bytes: Mapped[int | None]

    __table_args__ = (Index("ix_node_gpus_vendor_node", "vendor", "node_name"),)


class NodeLabel(Base):
    __tablename__ = "node_labels"

    node_name: Mapped[str] = mapped_column(_fk(), primary_key=True)
    key: Mapped[str] = mapped_column(String(317), primary_key=True)
    value: Mapped[str] = mapped_column(String(63))

    __table_args__ = (Index("ix_node_labels_key_value_node", "key", "value", "node_name"),)


class FleetGeneration(Base):
    """One row: a number `nodes/store.py` raises in every transaction that changes what the node
    list filters, searches or counts (migration 0003). The list keeps the names matching each
    recent query per generation (nodes/service.py) and brings them up to date from the
    `node_changes` written since (0004).

    `reset_generation`: whoever deletes node rows without the store sets it to the new
    generation, so that no kept match set older than that is trusted."""

    __tablename__ = "fleet_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)
    reset_generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class NodeChange(Base):
    """The fleet generation of the last write of each node name, removals included (migration
    0004). A narrow table of its own, so that stamping a generation does not rewrite the wide
    node rows; no foreign key, because a removed node's row must stay to say it was removed."""

    __tablename__ = "node_changes"

    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, index=True)


class NodeConditionEvent(Base):
    """Phase transitions, newest last: the node page's history."""

    __tablename__ = "node_condition_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_name: Mapped[str] = mapped_column(_fk(), index=True)
    phase: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class Tombstone(Base):
    """A node that was removed, kept so people can see "removed 3 min ago"."""

    __tablename__ = "tombstones"

    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    uid: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))
    removed_at: Mapped[datetime] = mapped_column(index=True)
    # What the node last said (hardware, Ollama, models, conditions) and who it was, so that the
    # dashboard can show "the gaming PC (RTX 4090, 12 models) was last seen 20 min ago".
    last_status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    display_name: Mapped[str | None] = mapped_column(String(253))  # migration 0006
    last_seen_at: Mapped[datetime | None]  # migration 0006: last heartbeat, report or Ready


class EnrollmentToken(Base):
    """Bootstrap-style token `<id>.<secret>`; only the secret's sha256 is stored."""

    __tablename__ = "enrollment_tokens"

    token_id: Mapped[str] = mapped_column(String(6), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    uses: Mapped[int] = mapped_column(Integer, default=0)


class NodeCredential(Base):
    """A standalone node's token (sha256 only) and what its heartbeats last said."""

    __tablename__ = "node_credentials"

    node_name: Mapped[str] = mapped_column(String(253), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    host_id: Mapped[str] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime]
    last_heartbeat_at: Mapped[datetime | None]
    last_digest: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(253))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The live GPU figures of the last heartbeat (obt.core.telemetry, migration 0005): kept here,
    # not in the node row, so that they cost no node write and no event.
    telemetry: Mapped[dict[str, Any] | None]
    telemetry_at: Mapped[datetime | None]


class ApiToken(Base):
    """A person's or script's token `obt_<id>.<secret>` with a role (migration 0007); only the
    secret's sha256 is stored."""

    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class AuthSession(Base):
    """A dashboard sign-in (migration 0007): the cookie's sha256, the CSRF token's sha256, and
    the credential it was made from (`token_id`: an api_tokens id, or "admin")."""

    __tablename__ = "auth_sessions"

    session_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    """One state-changing request (migration 0008; obt/api/audit.py): who, what, the outcome.
    Never a secret: `target` holds path parameters (a token's id, a node's name)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(256), index=True)
    actor_name: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    target: Mapped[str] = mapped_column(String(512), default="")
    status: Mapped[int] = mapped_column(Integer)
    client: Mapped[str] = mapped_column(String(64), default="")


class _ActionObject:
    """Columns shared by tasks and model sets (migration 0009): the wire form's parts in JSON."""

    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    uid: Mapped[str] = mapped_column(String(64))
    resource_version: Mapped[str | None] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(default=1)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(index=False)
    updated_at: Mapped[datetime]


class TaskRow(_ActionObject, Base):
    """An OllamaTask (local mode: the object itself; cluster mode: the mirror's copy)."""

    __tablename__ = "tasks"

    action: Mapped[str] = mapped_column(String(16), index=True)
    phase: Mapped[str] = mapped_column(String(16), index=True, default="Pending")
    # status.completionTime: when ttlSecondsAfterFinished counts from.
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_tasks_created_at", "created_at"),)


class ModelSetRow(_ActionObject, Base):
    """An OllamaModelSet (local mode: the object itself; cluster mode: the mirror's copy)."""

    __tablename__ = "model_sets"


class WorkGeneration(Base):
    """One row: raised in every transaction that changes what some agent should do (a task or
    set created, changed or deleted; an admission list moved). Migration 0009."""

    __tablename__ = "work_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)
