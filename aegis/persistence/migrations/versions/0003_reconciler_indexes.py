"""partial indexes for the reconciler's scans: only the rows still in flight

Revision ID: 0003
Revises: 0002

The reconciler runs every ``AEGIS_RECONCILE_INTERVAL`` seconds and looks only at
documents still queued or processing and at batches still running. The indexes
of 0001/0002 held every row the table ever had (``status`` first), so they grew
with the history and cost a write on every terminal document; these hold only the
rows in flight (a few hundred at most), in the order the scan reads them, so the
scan and the index stay the same size at 10,000 or 10 million documents.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('queued', 'processing')")
RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_index("ix_documents_status_progress")
        batch.create_index(
            "ix_documents_active_progress", ["progress_at"], postgresql_where=ACTIVE, sqlite_where=ACTIVE
        )
    with op.batch_alter_table("batches") as batch:
        batch.drop_index("ix_batches_status_started")
        batch.create_index(
            "ix_batches_running_started", ["stage", "started_at"], postgresql_where=RUNNING, sqlite_where=RUNNING
        )


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_index("ix_batches_running_started")
        batch.create_index("ix_batches_status_started", ["status", "started_at"])
    with op.batch_alter_table("documents") as batch:
        batch.drop_index("ix_documents_active_progress")
        batch.create_index("ix_documents_status_progress", ["status", "progress_at"])
