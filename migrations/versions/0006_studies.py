"""Studies: sequential tuning runs on one dataset, and their trials (suggestions and observations).

Revision ID: 0006_studies
Revises: 0005_knowledge_indexes
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_studies"
down_revision = "0005_knowledge_indexes"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("task_type", sa.String(16), nullable=False),
        sa.Column("space", sa.String(64), nullable=False),
        sa.Column("families", JSON, nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("n_initial", sa.Integer, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_studies_dataset_id", "studies", ["dataset_id"])
    op.create_table(
        "study_trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column(
            "configuration_id",
            sa.Integer,
            sa.ForeignKey("configurations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("model_version", sa.String(96), nullable=True),
        sa.Column("acquisition", sa.Float, nullable=True),
        sa.Column("predicted_mean", sa.Float, nullable=True),
        sa.Column("predicted_std", sa.Float, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("metrics", JSON, nullable=True),
        sa.Column("fit_time", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column(
            "evaluation_id", sa.Integer, sa.ForeignKey("evaluations.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("suggested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("study_id", "number", name="uq_study_trials_number"),
        sa.UniqueConstraint("study_id", "configuration_id", name="uq_study_trials_configuration"),
    )


def downgrade() -> None:
    op.drop_table("study_trials")
    op.drop_index("ix_studies_dataset_id", table_name="studies")
    op.drop_table("studies")
