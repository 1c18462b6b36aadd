"""indexes for the list, search and summary queries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

- Child-row lookups ("has model X", "GPU vendor", "label k=v", "model X loaded") become index-only:
  each index now ends with node_name, so the matching node names come from the index without
  visiting the table (at 5,000 x 50 the installed-model lookup read ~600 heap pages per query).
- PostgreSQL: a pg_trgm GIN index on nodes.search_text answers selective `LIKE '%term%'`
  searches from the index instead of reading ~1 KB of text per node. pg_trgm ships with
  PostgreSQL (contrib) and is a trusted extension (the database owner may create it); where it
  cannot be created the index is skipped with a warning and searches fall back to a scan.
- PostgreSQL: nodes get fillfactor 80, so that the batched last-seen updates of heartbeats can
  be HOT updates (no index entries, in particular none in the GIN index).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

# (table, old index, old columns, new index, new columns)
_COVERING = [
    (
        "node_gpus",
        "ix_node_gpus_vendor",
        ["vendor"],
        "ix_node_gpus_vendor_node",
        ["vendor", "node_name"],
    ),
    (
        "node_labels",
        "ix_node_labels_key_value",
        ["key", "value"],
        "ix_node_labels_key_value_node",
        ["key", "value", "node_name"],
    ),
    (
        "node_loaded_models",
        "ix_node_loaded_models_name",
        ["name"],
        "ix_node_loaded_models_name_node",
        ["name", "node_name"],
    ),
]
TRGM_INDEX = "ix_nodes_search_text_trgm"


def upgrade() -> None:
    for table, old, _, new, columns in _COVERING:
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_index(new, columns, unique=False)
            batch_op.drop_index(old)
    with op.batch_alter_table("node_models") as batch_op:
        # (name, digest) stays for the catalogue's GROUP BY name, digest.
        batch_op.create_index("ix_node_models_name_node", ["name", "node_name"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE nodes SET (fillfactor = 80)")
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        log.warning("pg_trgm unavailable (%s): node search stays a table scan", exc.orig)
        return
    savepoint.commit()
    op.execute(f"CREATE INDEX {TRGM_INDEX} ON nodes USING gin (search_text gin_trgm_ops)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {TRGM_INDEX}")
        op.execute("ALTER TABLE nodes RESET (fillfactor)")
    with op.batch_alter_table("node_models") as batch_op:
        batch_op.drop_index("ix_node_models_name_node")
    for table, old, old_columns, new, _ in _COVERING:
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_index(old, old_columns, unique=False)
            batch_op.drop_index(new)
