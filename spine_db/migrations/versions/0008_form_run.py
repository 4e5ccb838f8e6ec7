"""Which run of the booking or call-back form a request came from, unique per conversation: a
submit that is retried (the patient's "yes" sent again after the conversation could not be saved)
finds the request it already made instead of making a second one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REQUESTS = ("bookings", "callbacks")


def upgrade() -> None:
    for table in REQUESTS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("form_run", sa.String(64), nullable=True))
            batch.create_unique_constraint(
                f"uq_{table}_conversation_form_run", ["conversation_id", "form_run"]
            )


def downgrade() -> None:
    for table in REQUESTS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"uq_{table}_conversation_form_run", type_="unique")
            batch.drop_column("form_run")
