"""Task families: their declared schema, prior tasks, and meta-trained / adapted models.

Revision ID: 0004_families
Revises: 0003_learner_models
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004_families"
down_revision = "0003_learner_models"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "families",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("task_type", sa.String(16), nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "family_tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("family_id", sa.Integer, sa.ForeignKey("families.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("family_id", "content_hash", name="uq_family_tasks_content"),
    )
    op.create_index("ix_family_tasks_family_id", "family_tasks", ["family_id", "id"])
    op.create_table(
        "family_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("family_id", sa.Integer, sa.ForeignKey("families.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("family_models.id"), nullable=True),
        sa.Column("support_hash", sa.String(64), nullable=True),
        sa.Column("file", sa.String(64), nullable=False, unique=True),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("family_id", "kind", "version", name="uq_family_models_version"),
    )


def downgrade() -> None:
    op.drop_table("family_models")
    op.drop_index("ix_family_tasks_family_id", table_name="family_tasks")
    op.drop_table("family_tasks")
    op.drop_table("families")
