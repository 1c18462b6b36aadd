"""heartbeat telemetry: the live GPU figures of each standalone node's last heartbeat

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Heartbeats may carry per-GPU utilization, temperature, power and memory in use
(obt.core.telemetry). They are persisted with the batched last-seen times, so that every API
replica can show them on the node page, and never written to the node rows or the OllamaNode.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("node_credentials", sa.Column("telemetry", sa.JSON(), nullable=True))
    op.add_column(
        "node_credentials", sa.Column("telemetry_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    # Native DROP COLUMN (SQLite >= 3.35): no table copy.
    op.execute("ALTER TABLE node_credentials DROP COLUMN telemetry_at")
    op.execute("ALTER TABLE node_credentials DROP COLUMN telemetry")
