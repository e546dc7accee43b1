"""Model weights and meta-train checkpoints in the database (multi-machine workers), retry back-off.

Revision ID: 0007_durable_weights
Revises: 0006_studies
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_durable_weights"
down_revision = "0006_studies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("run_after", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "job_checkpoints",
        sa.Column(
            "job_id",
            sa.Integer,
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "family_model_weights",
        sa.Column(
            "model_id",
            sa.Integer,
            sa.ForeignKey("family_models.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        ),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("family_model_weights")
    op.drop_table("job_checkpoints")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch rebuild of `jobs` would
    # cascade-delete its events while foreign keys are on.
    op.drop_column("jobs", "run_after")
