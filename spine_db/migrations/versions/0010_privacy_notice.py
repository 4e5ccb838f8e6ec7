"""The privacy notice a patient was shown before giving their details (its version,
content/privacy.yml) and when they agreed to be contacted: consent is recorded with what it was
given on.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

REQUESTS = ("bookings", "callbacks")


def upgrade() -> None:
    for table in REQUESTS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("privacy_notice", sa.String(32), nullable=True))
            batch.add_column(sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in REQUESTS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("consented_at")
            batch.drop_column("privacy_notice")
