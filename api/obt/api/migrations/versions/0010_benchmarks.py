"""benchmark results (kept for good) and local-mode benchmarks

Revision ID: 0010
Revises: 0008 (re-point to 0009 when the tasks/model sets migration is merged)
Create Date: 2026-12-03

`benchmark_results`: every OllamaBenchmarkResult, indexed by fingerprint (the cache lookup) and
by node, model and time (history); never deleted with its custom resource. `benchmarks`: the
OllamaBenchmarks of local mode (spec and status as JSON), and the mirror of cluster mode's.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamp = sa.DateTime(timezone=True)
    op.create_table(
        "benchmark_results",
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("benchmark", sa.String(253), nullable=False),
        sa.Column("benchmark_uid", sa.String(64), nullable=True),
        sa.Column("node", sa.String(253), nullable=False),
        sa.Column("model", sa.String(253), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("comparable_key", sa.String(64), nullable=False),
        sa.Column("placement", sa.String(8), nullable=False),
        *(
            column
            for figure in ("pp", "tg", "ttft")
            for column in (
                sa.Column(f"{figure}_mean", sa.Float(), nullable=False),
                sa.Column(f"{figure}_stddev", sa.Float(), nullable=False),
                sa.Column(f"{figure}_cv", sa.Float(), nullable=False),
                sa.Column(f"{figure}_n", sa.Integer(), nullable=False),
            )
        ),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("measured_at", stamp, nullable=False),
        sa.Column("stored_at", stamp, nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("regression", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_benchmark_results")),
    )
    op.create_index(op.f("ix_benchmark_results_benchmark"), "benchmark_results", ["benchmark"])
    op.create_index(op.f("ix_benchmark_results_fingerprint"), "benchmark_results", ["fingerprint"])
    op.create_index(
        "ix_benchmark_results_node_model_measured_at",
        "benchmark_results",
        ["node", "model", "measured_at"],
    )
    op.create_index(
        "ix_benchmark_results_model_key", "benchmark_results", ["model", "comparable_key"]
    )
    op.create_table(
        "benchmarks",
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("resource_version", sa.String(64), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("updated_at", stamp, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_benchmarks")),
    )
    op.create_index(op.f("ix_benchmarks_phase"), "benchmarks", ["phase"])
    op.create_index(op.f("ix_benchmarks_created_at"), "benchmarks", ["created_at"])


def downgrade() -> None:
    op.drop_table("benchmarks")
    op.drop_table("benchmark_results")
