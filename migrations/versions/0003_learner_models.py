"""Fitted recommenders, versioned and shared by every replica of the service.

Revision ID: 0003_learner_models
Revises: 0002_jobs
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_learner_models"
down_revision = "0002_jobs"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "learner_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("task_type", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("version", sa.String(96), nullable=False, unique=True),
        sa.Column("kb_fingerprint", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_learner_models_lookup", "learner_models", ["method", "task_type", "metric", "id"])


def downgrade() -> None:
    op.drop_index("ix_learner_models_lookup", table_name="learner_models")
    op.drop_table("learner_models")
