"""Annotations: reviewers' correct labels for user messages (exported as NLU training data).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False, unique=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_annotations_sender_id", "annotations", ["sender_id"])


def downgrade() -> None:
    op.drop_table("annotations")
