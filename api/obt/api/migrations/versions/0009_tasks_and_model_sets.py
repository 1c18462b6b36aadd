"""model operations: tasks, model sets and the work generation

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Local mode keeps `OllamaTask` and `OllamaModelSet` objects here (cluster mode mirrors the custom
resources into the same tables), whole wire forms in JSON plus the columns the lists filter on.
`work_generation` is one row raised in every transaction that changes what an agent should do;
the heartbeat answer carries it (docs/api.md, "Work delivery"). Node activity and labels live in
the node rows already (`nodes.status`, `nodes.labels`).
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _object_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column("resource_version", sa.String(64), nullable=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "tasks",
        *_object_columns(),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_phase"), "tasks", ["phase"])
    op.create_index(op.f("ix_tasks_action"), "tasks", ["action"])
    op.create_index(op.f("ix_tasks_created_at"), "tasks", ["created_at"])
    op.create_table(
        "model_sets",
        *_object_columns(),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_model_sets")),
    )
    table = op.create_table(
        "work_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_generation")),
    )
    # From the clock, like fleet_generation: a re-created table never repeats a number an agent
    # may still hold (it would then miss the change).
    op.bulk_insert(table, [{"id": 1, "generation": time.time_ns() // 1000}])


def downgrade() -> None:
    op.drop_table("work_generation")
    op.drop_table("model_sets")
    op.drop_table("tasks")
