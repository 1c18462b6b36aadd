"""tombstones keep who the node was and when it was last seen

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

A removed host stays on the dashboard's "Removed" section with its last known hardware and
models (`last_status`, kept since 0001), its friendly name and when it was last seen, so that a
person sees "the gaming PC is off" rather than a node that vanished.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tombstones", sa.Column("display_name", sa.String(253), nullable=True))
    op.add_column(
        "tombstones", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    # Native DROP COLUMN (SQLite >= 3.35): no table copy.
    op.execute("ALTER TABLE tombstones DROP COLUMN last_seen_at")
    op.execute("ALTER TABLE tombstones DROP COLUMN display_name")
