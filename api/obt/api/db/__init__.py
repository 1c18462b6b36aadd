"""Database: tables, engine and sessions (PostgreSQL in cluster mode, SQLite embedded)."""
