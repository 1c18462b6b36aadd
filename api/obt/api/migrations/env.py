"""Alembic environment: runs on the connection that `obt.api.db.engine.migrate` hands over."""

from __future__ import annotations

from alembic import context

from obt.api.db.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through obt.api.db.engine.migrate (it passes the connection)"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
