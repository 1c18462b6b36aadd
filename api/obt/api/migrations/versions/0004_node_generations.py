"""node generations: the fleet generation of each node's and tombstone's last write

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

0003 cached list totals per fleet generation, so a total was counted again after every write:
with the mirror writing continuously that is every query, and a broad search (`llama` is in
4,996 of 5,000 nodes) is a substring test over every node's search text. Now the store stamps
the new generation on the nodes and tombstones each transaction wrote, and the list keeps the
names matching a recent query: it re-tests only the nodes written since, and drops the removed
ones (nodes/service.py). `reset_generation` marks deletions made outside the store.

Existing rows get generation 0: older than any generation a running API can hold.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both backends: no table is copied (on SQLite a batch copy of `nodes`
    # would drop the old table, and its ON DELETE CASCADE would empty the child tables).
    for table in ("nodes", "tombstones"):
        op.add_column(
            table, sa.Column("generation", sa.BigInteger(), nullable=False, server_default="0")
        )
        op.create_index(f"ix_{table}_generation", table, ["generation"])
    op.add_column(
        "fleet_generation",
        sa.Column("reset_generation", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    # Native DROP COLUMN (SQLite >= 3.35; older ones refuse it and the transaction rolls back):
    # a batch copy would cascade-delete the child rows of `nodes` on SQLite, as above.
    op.execute("ALTER TABLE fleet_generation DROP COLUMN reset_generation")
    for table in ("tombstones", "nodes"):
        op.drop_index(f"ix_{table}_generation", table_name=table)
        op.execute(f"ALTER TABLE {table} DROP COLUMN generation")
