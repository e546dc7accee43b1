"""Alembic migrations: the only source of the metastore's schema."""
