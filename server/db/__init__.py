"""Relational storage: SQLAlchemy 2 (async) models, engine and versioned migrations (Alembic)."""
