"""Conversation summaries for the console (indexed flags), and the indexer's position.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FLAGS = ("emergency", "crisis", "callback", "booking", "reviewed")


def upgrade() -> None:
    op.create_table(
        "conversation_summaries",
        sa.Column("sender_id", sa.String(255), primary_key=True),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.Column("channel", sa.String(64)),
        sa.Column("turns", sa.Integer(), nullable=False),
        *(sa.Column(flag, sa.Boolean(), nullable=False) for flag in FLAGS[:4]),
        sa.Column("fallback_count", sa.Integer(), nullable=False),
        sa.Column("low_confidence_count", sa.Integer(), nullable=False),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text()),
    )
    op.create_index(
        "ix_conversation_summaries_started_at", "conversation_summaries", ["started_at"]
    )
    op.create_index("ix_conversation_summaries_channel", "conversation_summaries", ["channel"])
    for flag in FLAGS:
        op.create_index(f"ix_conversation_summaries_{flag}", "conversation_summaries", [flag])
    op.create_table(
        "indexer_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("indexer_state")
    op.drop_table("conversation_summaries")
