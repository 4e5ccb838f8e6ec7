"""Opaque conversation keys for console URLs (conversation ids can be phone numbers).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_summaries") as batch:
        batch.add_column(sa.Column("conversation_key", sa.String(24)))
        batch.create_unique_constraint(
            "uq_conversation_summaries_conversation_key", ["conversation_key"]
        )
    conn = op.get_bind()
    table = sa.table(
        "conversation_summaries", sa.column("sender_id"), sa.column("conversation_key")
    )
    for (sender,) in conn.execute(sa.select(table.c.sender_id)).all():
        key = hashlib.sha256(sender.encode()).hexdigest()[:24]
        conn.execute(
            sa.update(table).where(table.c.sender_id == sender).values(conversation_key=key)
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_summaries") as batch:
        batch.drop_constraint("uq_conversation_summaries_conversation_key", type_="unique")
        batch.drop_column("conversation_key")
