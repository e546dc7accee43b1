"""Initial schema: datasets, meta-features, search spaces, configurations, evaluations, API keys.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("task_type", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("n_features", sa.Integer, nullable=False),
        sa.Column("column_types", JSON, nullable=False),
        sa.Column("column_stats", JSON, nullable=False),
        sa.Column("origin_group", sa.String(128), nullable=True),
        sa.Column("raw_file", sa.String(255), nullable=True),
        sa.Column("file_format", sa.String(16), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_datasets_name", "datasets", ["name"])
    op.create_index("ix_datasets_origin_group", "datasets", ["origin_group"])

    op.create_table(
        "dataset_metafeatures",
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("values", JSON, nullable=False),
        sa.Column("times", JSON, nullable=False),
        sa.Column("failures", JSON, nullable=False),
        sa.Column("sample_size", sa.Integer, nullable=True),
        sa.Column("computed_at", TS, nullable=False),
    )

    op.create_table(
        "search_spaces",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("task_type", sa.String(16), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("family", "task_type", "version", name="uq_space_version"),
    )

    op.create_table(
        "configurations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "space_id",
            sa.Integer,
            sa.ForeignKey("search_spaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("values", JSON, nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("space_id", "config_hash", name="uq_configuration_hash"),
    )

    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "configuration_id",
            sa.Integer,
            sa.ForeignKey("configurations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("protocol", sa.String(64), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fit_time", sa.Float, nullable=True),
        sa.Column("predict_time", sa.Float, nullable=True),
        sa.Column("peak_memory_mb", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_evaluations_cell", "evaluations", ["dataset_id", "configuration_id", "protocol"])
    op.create_index("ix_evaluations_configuration_id", "evaluations", ["configuration_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index("ix_evaluations_configuration_id", table_name="evaluations")
    op.drop_index("ix_evaluations_cell", table_name="evaluations")
    op.drop_table("evaluations")
    op.drop_table("configurations")
    op.drop_table("search_spaces")
    op.drop_table("dataset_metafeatures")
    op.drop_index("ix_datasets_origin_group", table_name="datasets")
    op.drop_index("ix_datasets_name", table_name="datasets")
    op.drop_table("datasets")
