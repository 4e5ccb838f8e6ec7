"""Booking and call-back requests.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(16), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(64)),
        sa.Column("doctor_id", sa.String(64), nullable=False),
        sa.Column("doctor_name", sa.String(128), nullable=False),
        sa.Column("consult_mode", sa.String(32), nullable=False),
        sa.Column("preferred_date", sa.Date(), nullable=False),
        sa.Column("preferred_time", sa.String(64), nullable=False),
        sa.Column("patient_name", sa.String(128), nullable=False),
        sa.Column("mobile", sa.String(20), nullable=False),
        sa.Column("contact_consent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_bookings_conversation_id", "bookings", ["conversation_id"])
    op.create_index("ix_bookings_created_at", "bookings", ["created_at"])
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.String(16), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(64)),
        sa.Column("patient_name", sa.String(128), nullable=False),
        sa.Column("mobile", sa.String(20), nullable=False),
        sa.Column("contact_consent", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(255)),
        sa.Column("booking_reference", sa.String(16)),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_callbacks_conversation_id", "callbacks", ["conversation_id"])
    op.create_index("ix_callbacks_created_at", "callbacks", ["created_at"])


def downgrade() -> None:
    op.drop_table("callbacks")
    op.drop_table("bookings")
