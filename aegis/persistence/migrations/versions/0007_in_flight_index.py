"""ix_documents_in_flight: admission counts documents in flight from a small index

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_IN_FLIGHT = "admitted_at IS NOT NULL AND status IN ('queued', 'processing')"


def upgrade() -> None:
    # Without it every count walked a tenant's waiting rows too (ix_documents_tenant_status).
    op.create_index(
        "ix_documents_in_flight", "documents", ["tenant_id"],
        postgresql_where=sa.text(_IN_FLIGHT), sqlite_where=sa.text(_IN_FLIGHT),
    )


def downgrade() -> None:
    op.drop_index("ix_documents_in_flight", table_name="documents")
