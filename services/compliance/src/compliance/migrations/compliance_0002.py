"""National registry copies (metadata of the imported ``.npy`` files), import jobs, and the
index of the decisions export (tenant, time order).

Revision ID: compliance_0002
Revises: compliance_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.db import UTCDateTime

revision = "compliance_0002"
down_revision = "compliance_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_copies",
        sa.Column("copy_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("downloaded_at", UTCDateTime, nullable=False),
        sa.Column("imported_at", UTCDateTime, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("copy_id", name="pk_registry_copies"),
    )
    op.create_index("ix_registry_copies_name", "registry_copies", ["name", "imported_at"])
    op.create_index("ix_decisions_time", "decisions", ["tenant_id", "decided_at", "decision_id"])
    op.create_table(
        "registry_imports",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("downloaded_at", UTCDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("lines_read", sa.BigInteger, nullable=False),
        sa.Column("numbers", sa.BigInteger, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("error_line", sa.Integer, nullable=True),
        sa.Column("copy_id", sa.String(36), nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("job_id", name="pk_registry_imports"),
    )


def downgrade() -> None:
    op.drop_table("registry_imports")
    op.drop_index("ix_decisions_time", table_name="decisions")
    op.drop_index("ix_registry_copies_name", table_name="registry_copies")
    op.drop_table("registry_copies")
