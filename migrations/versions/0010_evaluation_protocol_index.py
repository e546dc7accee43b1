"""An index on evaluations (protocol, id): the knowledge fingerprint reads the newest result of
one protocol, so a study's observations under another protocol ("user") no longer make the
service rebuild its knowledge-base models on every suggestion.

Revision ID: 0010_evaluation_protocol_index
Revises: 0009_class_weight
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0010_evaluation_protocol_index"
down_revision = "0009_class_weight"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_evaluations_protocol_id", "evaluations", ["protocol", "id"])


def downgrade() -> None:
    op.drop_index("ix_evaluations_protocol_id", table_name="evaluations")
