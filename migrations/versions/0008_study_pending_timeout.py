"""Pending study trials expire: each study's timeout after which a pending trial counts as lost.

Revision ID: 0008_study_pending_timeout
Revises: 0007_durable_weights
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_study_pending_timeout"
down_revision = "0007_durable_weights"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL (every study made before this revision): its pending trials never expire, as before.
    op.add_column("studies", sa.Column("pending_timeout_s", sa.Float, nullable=True))


def downgrade() -> None:
    # The code of 0007 knows pending, ok and failed only; an expired trial was pending there.
    op.execute("UPDATE study_trials SET state = 'pending' WHERE state = 'expired'")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch rebuild of `studies` would
    # cascade-delete its trials while foreign keys are on.
    op.drop_column("studies", "pending_timeout_s")
