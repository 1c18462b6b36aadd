"""Alembic migrations; `obt.api.db.engine.migrate` runs them on start-up."""
