"""WhatsApp deliveries stored before they are acknowledged (inbox) and replies sent from a durable
outbox with retries: at-least-once from Meta, processed once, nothing lost to a crash.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_inbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.String(128), nullable=False, unique=True),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("done_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_whatsapp_inbox_sender", "whatsapp_inbox", ["sender"])
    op.create_index("ix_whatsapp_inbox_status", "whatsapp_inbox", ["status"])
    op.create_table(
        "whatsapp_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("delivery_id", sa.Integer()),
        sa.Column("recipient", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.String(255)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_whatsapp_outbox_delivery_id", "whatsapp_outbox", ["delivery_id"])
    op.create_index("ix_whatsapp_outbox_recipient", "whatsapp_outbox", ["recipient"])
    op.create_index("ix_whatsapp_outbox_status", "whatsapp_outbox", ["status"])


def downgrade() -> None:
    op.drop_table("whatsapp_outbox")
    op.drop_table("whatsapp_inbox")
