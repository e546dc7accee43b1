"""Indexes that keep the per-request knowledge fingerprint cheap on a large metastore.

Revision ID: 0005_knowledge_indexes
Revises: 0004_families
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0005_knowledge_indexes"
down_revision = "0004_families"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_dataset_metafeatures_computed_at", "dataset_metafeatures", ["computed_at"])


def downgrade() -> None:
    op.drop_index("ix_dataset_metafeatures_computed_at", table_name="dataset_metafeatures")
