"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrollment_tokens",
        sa.Column("token_id", sa.String(length=6), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_enrollment_tokens")),
    )
    op.create_table(
        "node_credentials",
        sa.Column("node_name", sa.String(length=253), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("host_id", sa.String(length=253), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_digest", sa.String(length=64), nullable=True),
        sa.Column("display_name", sa.String(length=253), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("node_name", name=op.f("pk_node_credentials")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_node_credentials_token_hash")),
    )
    with op.batch_alter_table("node_credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_credentials_host_id"), ["host_id"], unique=False)

    op.create_table(
        "nodes",
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=True),
        sa.Column("resource_version", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=253), nullable=True),
        sa.Column("host_id", sa.String(length=253), nullable=True),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("phase_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ollama_version", sa.String(length=64), nullable=True),
        sa.Column("ollama_reachable", sa.Boolean(), nullable=False),
        sa.Column("gpu_count", sa.Integer(), nullable=False),
        sa.Column("gpu_summary", sa.String(length=512), nullable=False),
        sa.Column("vram_total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("vram_loaded_bytes", sa.BigInteger(), nullable=False),
        sa.Column("vram_free_bytes", sa.BigInteger(), nullable=False),
        sa.Column("ram_total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("ram_available_bytes", sa.BigInteger(), nullable=False),
        sa.Column("model_count", sa.Integer(), nullable=False),
        sa.Column("loaded_count", sa.Integer(), nullable=False),
        sa.Column("os_summary", sa.String(length=256), nullable=False),
        sa.Column("cpu_summary", sa.String(length=256), nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.Column("report_digest", sa.String(length=64), nullable=True),
        sa.Column("models_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_nodes")),
    )
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_nodes_ollama_version"), ["ollama_version"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_nodes_phase"), ["phase"], unique=False)
        batch_op.create_index(batch_op.f("ix_nodes_source"), ["source"], unique=False)
        batch_op.create_index(batch_op.f("ix_nodes_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_nodes_vram_free_bytes"), ["vram_free_bytes"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_nodes_vram_total_bytes"), ["vram_total_bytes"], unique=False
        )

    op.create_table(
        "tombstones",
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tombstones")),
    )
    with op.batch_alter_table("tombstones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tombstones_removed_at"), ["removed_at"], unique=False)

    op.create_table(
        "node_condition_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("node_name", sa.String(length=253), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_name"],
            ["nodes.name"],
            name=op.f("fk_node_condition_events_node_name_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_condition_events")),
    )
    with op.batch_alter_table("node_condition_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_node_condition_events_node_name"), ["node_name"], unique=False
        )

    op.create_table(
        "node_gpus",
        sa.Column("node_name", sa.String(length=253), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("vendor", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("memory_total_bytes", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_name"],
            ["nodes.name"],
            name=op.f("fk_node_gpus_node_name_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_name", "index", name=op.f("pk_node_gpus")),
    )
    with op.batch_alter_table("node_gpus", schema=None) as batch_op:
        batch_op.create_index("ix_node_gpus_vendor", ["vendor"], unique=False)

    op.create_table(
        "node_labels",
        sa.Column("node_name", sa.String(length=253), nullable=False),
        sa.Column("key", sa.String(length=317), nullable=False),
        sa.Column("value", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_name"],
            ["nodes.name"],
            name=op.f("fk_node_labels_node_name_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_name", "key", name=op.f("pk_node_labels")),
    )
    with op.batch_alter_table("node_labels", schema=None) as batch_op:
        batch_op.create_index("ix_node_labels_key_value", ["key", "value"], unique=False)

    op.create_table(
        "node_loaded_models",
        sa.Column("node_name", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("size_vram", sa.BigInteger(), nullable=True),
        sa.Column("context_length", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_name"],
            ["nodes.name"],
            name=op.f("fk_node_loaded_models_node_name_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_name", "name", name=op.f("pk_node_loaded_models")),
    )
    with op.batch_alter_table("node_loaded_models", schema=None) as batch_op:
        batch_op.create_index("ix_node_loaded_models_name", ["name"], unique=False)

    op.create_table(
        "node_models",
        sa.Column("node_name", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("family", sa.String(length=64), nullable=True),
        sa.Column("parameter_size", sa.String(length=32), nullable=True),
        sa.Column("quantization_level", sa.String(length=32), nullable=True),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_name"],
            ["nodes.name"],
            name=op.f("fk_node_models_node_name_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_name", "name", name=op.f("pk_node_models")),
    )
    with op.batch_alter_table("node_models", schema=None) as batch_op:
        batch_op.create_index("ix_node_models_name_digest", ["name", "digest"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("node_models", schema=None) as batch_op:
        batch_op.drop_index("ix_node_models_name_digest")

    op.drop_table("node_models")
    with op.batch_alter_table("node_loaded_models", schema=None) as batch_op:
        batch_op.drop_index("ix_node_loaded_models_name")

    op.drop_table("node_loaded_models")
    with op.batch_alter_table("node_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_node_labels_key_value")

    op.drop_table("node_labels")
    with op.batch_alter_table("node_gpus", schema=None) as batch_op:
        batch_op.drop_index("ix_node_gpus_vendor")

    op.drop_table("node_gpus")
    with op.batch_alter_table("node_condition_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_condition_events_node_name"))

    op.drop_table("node_condition_events")
    with op.batch_alter_table("tombstones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tombstones_removed_at"))

    op.drop_table("tombstones")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nodes_vram_total_bytes"))
        batch_op.drop_index(batch_op.f("ix_nodes_vram_free_bytes"))
        batch_op.drop_index(batch_op.f("ix_nodes_updated_at"))
        batch_op.drop_index(batch_op.f("ix_nodes_source"))
        batch_op.drop_index(batch_op.f("ix_nodes_phase"))
        batch_op.drop_index(batch_op.f("ix_nodes_ollama_version"))

    op.drop_table("nodes")
    with op.batch_alter_table("node_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_credentials_host_id"))

    op.drop_table("node_credentials")
    op.drop_table("enrollment_tokens")
