"""fleet generation: a counter raised by every node write, for cached list totals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

A broad search (`llama` is in 4,996 of 5,000 nodes) cannot be narrowed by any index: its total
is a substring test over every node's search text (~9 ms of PostgreSQL CPU at 5,000 nodes, more
under load). The total only changes when a node is written, so the store raises this one-row
counter in each write transaction and the list caches totals per (generation, filters).
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "fleet_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_generation")),
    )
    # Starts at the clock in microseconds, not 0: a table created again (a downgrade and
    # upgrade, a database restored at the same URL) never repeats a generation that a running
    # API may still hold a cached total for.
    op.bulk_insert(table, [{"id": 1, "generation": time.time_ns() // 1000}])


def downgrade() -> None:
    op.drop_table("fleet_generation")
