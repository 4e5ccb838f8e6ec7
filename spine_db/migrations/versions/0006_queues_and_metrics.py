"""Queues (assignee, notes, version) on bookings and call-backs; daily counts and the
specialist-cards flag for the console's metrics (the indexer re-reads all events once to fill them
in); random conversation keys (0004's were a hash of the id, and a WhatsApp id is a phone number).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REQUESTS = ("bookings", "callbacks")
COUNTED = ("turns", "fallback_count", "low_confidence_count")
FLAGS = ("emergency", "crisis", "callback", "booking", "cards_shown")


def upgrade() -> None:
    for table in REQUESTS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("assignee", sa.String(64)))
            batch.add_column(sa.Column("notes", sa.Text()))
            batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True)))
            batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        op.create_index(f"ix_{table}_status", table, ["status"])
    with op.batch_alter_table("conversation_summaries") as batch:
        batch.add_column(
            sa.Column("cards_shown", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "daily_counts",
        sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD in IST
        sa.Column("metric", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    # Rebuild the summaries' derived columns from the events (reviews and notes are kept).
    summaries = sa.table("conversation_summaries", *(sa.column(c) for c in COUNTED + FLAGS))
    op.execute(
        summaries.update().values(**{c: 0 for c in COUNTED}, **{f: sa.false() for f in FLAGS})
    )
    keys = sa.table("conversation_summaries", sa.column("sender_id"), sa.column("conversation_key"))
    conn = op.get_bind()
    for (sender,) in conn.execute(sa.select(keys.c.sender_id)).all():
        conn.execute(
            keys.update()
            .where(keys.c.sender_id == sender)
            .values(conversation_key=secrets.token_hex(12))
        )
    state = sa.table("indexer_state", sa.column("name"), sa.column("last_event_id"))
    op.execute(state.delete())
    op.execute(state.insert().values(name="conversation_summaries", last_event_id=0))


def downgrade() -> None:
    op.drop_table("daily_counts")
    with op.batch_alter_table("conversation_summaries") as batch:
        batch.drop_column("cards_shown")
    for table in REQUESTS:
        op.drop_index(f"ix_{table}_status", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
            batch.drop_column("updated_at")
            batch.drop_column("notes")
            batch.drop_column("assignee")
