"""Indexes of the per-tick queries: live calls of a dialer process (trunk lines in use),
calls in flight of a tenant (pacing), released calls of a campaign (handle times).

Revision ID: dialer_0003
Revises: dialer_0002
"""

from __future__ import annotations

from alembic import op

revision = "dialer_0003"
down_revision = "dialer_0002"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_calls_owner_state": ["owner_id", "state"],
    "ix_calls_tenant_state": ["tenant_id", "state"],
    "ix_calls_campaign_released": ["tenant_id", "campaign_id", "released_at"],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "calls", columns)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, "calls")
