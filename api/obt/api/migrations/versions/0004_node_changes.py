"""node changes: the fleet generation of each node name's last write, for kept list totals

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

0003 cached list totals per fleet generation, so a total was counted again after every write:
with the mirror writing continuously that is every query, and a broad search (`llama` is in
4,996 of 5,000 nodes) is a substring test over every node's search text. Now the store records
in `node_changes` the new generation of each node it wrote or removed, and the list keeps the
names matching a recent query: it re-tests only the names changed since (nodes/service.py).
`fleet_generation.reset_generation` marks deletions made outside the store.

An empty `node_changes` is correct from the start: an API keeps no match sets across restarts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_changes",
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_node_changes")),
    )
    op.create_index(op.f("ix_node_changes_generation"), "node_changes", ["generation"])
    # A plain ADD COLUMN on both backends: no table is copied.
    op.add_column(
        "fleet_generation",
        sa.Column("reset_generation", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    # Native DROP COLUMN (SQLite >= 3.35; older ones refuse it and the transaction rolls back).
    op.execute("ALTER TABLE fleet_generation DROP COLUMN reset_generation")
    op.drop_index(op.f("ix_node_changes_generation"), table_name="node_changes")
    op.drop_table("node_changes")
