"""The classification spaces of six families gain `class_weight` (space version 2): stored
version-1 configurations move to version 2 with class_weight "none", the library default they
trained with (metastore/upgrades.py). Going back deletes the "balanced" configurations, which
version 1 cannot express, with their evaluations and trials.

Revision ID: 0009_class_weight
Revises: 0008_study_pending_timeout
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

from metastore.upgrades import downgrade_class_weight, upgrade_class_weight

revision = "0009_class_weight"
down_revision = "0008_study_pending_timeout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_class_weight(op.get_bind())


def downgrade() -> None:
    downgrade_class_weight(op.get_bind())
