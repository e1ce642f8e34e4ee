"""batches for fanned-out stages, OCR page columns, warnings and options

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("pages", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("document_id", "stage", "index"),
    )
    op.create_index("ix_batches_status_started", "batches", ["status", "started_at"])
    with op.batch_alter_table("pages") as batch:
        batch.add_column(sa.Column("ocr", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("ocr_confidence", sa.Float(), nullable=True))
        batch.add_column(sa.Column("ocr_error", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("ocr_layer", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("stage_runs") as batch:
        batch.add_column(sa.Column("pages_total", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("pages_done", sa.Integer(), nullable=True))
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("warnings", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("options")
        batch.drop_column("warnings")
    with op.batch_alter_table("stage_runs") as batch:
        batch.drop_column("pages_done")
        batch.drop_column("pages_total")
    with op.batch_alter_table("pages") as batch:
        batch.drop_column("ocr_layer")
        batch.drop_column("ocr_error")
        batch.drop_column("ocr_confidence")
        batch.drop_column("ocr")
    op.drop_index("ix_batches_status_started", table_name="batches")
    op.drop_table("batches")
