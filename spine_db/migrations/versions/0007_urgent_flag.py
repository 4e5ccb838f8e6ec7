"""The triage level `urgent` (contact the surgeon or hospital today) as its own conversation flag,
beside emergency and crisis; the indexer re-reads all events once to fill it in.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COUNTED = ("turns", "fallback_count", "low_confidence_count")
FLAGS = ("emergency", "crisis", "urgent", "callback", "booking", "cards_shown")


def upgrade() -> None:
    with op.batch_alter_table("conversation_summaries") as batch:
        batch.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_conversation_summaries_urgent", "conversation_summaries", ["urgent"])
    # Rebuild the derived columns and daily counts from the events (reviews and notes are kept).
    summaries = sa.table("conversation_summaries", *(sa.column(c) for c in COUNTED + FLAGS))
    op.execute(
        summaries.update().values(**{c: 0 for c in COUNTED}, **{f: sa.false() for f in FLAGS})
    )
    op.execute(sa.table("daily_counts").delete())
    state = sa.table("indexer_state", sa.column("name"), sa.column("last_event_id"))
    op.execute(state.delete())
    op.execute(state.insert().values(name="conversation_summaries", last_event_id=0))


def downgrade() -> None:
    op.drop_index("ix_conversation_summaries_urgent", "conversation_summaries")
    with op.batch_alter_table("conversation_summaries") as batch:
        batch.drop_column("urgent")
