"""tenants on one installation: fair-share admission, per-tenant limits, key scopes, audit log

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True))
    # Documents that exist already were sent (or will be by the reconciler): admitted.
    op.execute("UPDATE documents SET admitted_at = created_at")
    op.create_index("ix_documents_tenant_status", "documents", ["tenant_id", "status"])
    op.create_index(
        "ix_documents_waiting", "documents", ["tenant_id", "created_at"],
        postgresql_where=sa.text("admitted_at IS NULL"), sqlite_where=sa.text("admitted_at IS NULL"),
    )
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("max_in_flight", sa.Integer(), nullable=True))
        for name in ("max_documents_per_day", "max_bytes_per_day", "max_pages_per_day", "max_stored_bytes"):
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("requests_per_second", sa.Float(), nullable=True))
        batch.add_column(sa.Column("rate_burst", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))


    with op.batch_alter_table("api_keys") as batch:
        # Keys issued before scopes existed keep every right they had.
        batch.add_column(sa.Column("scope", sa.String(length=10), nullable=False, server_default="admin"))

    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
    )
    op.create_index("ix_audit_tenant_id", "audit_events", ["tenant_id", "id"])
    op.create_index("ix_audit_tenant_action", "audit_events", ["tenant_id", "action", "id"])
    op.create_index("ix_audit_tenant_document", "audit_events", ["tenant_id", "document_id"])
    op.create_index("ix_audit_at", "audit_events", ["at"])


def downgrade() -> None:
    op.drop_table("audit_events")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("scope")
    with op.batch_alter_table("tenants") as batch:
        for name in ("retention_days", "rate_burst", "requests_per_second", "max_stored_bytes",
                     "max_pages_per_day", "max_bytes_per_day", "max_documents_per_day", "max_in_flight"):
            batch.drop_column(name)
    op.drop_index("ix_documents_waiting", table_name="documents")
    op.drop_index("ix_documents_tenant_status", table_name="documents")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("admitted_at")
