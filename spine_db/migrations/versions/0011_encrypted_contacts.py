"""Patients' names and numbers in bookings and call-backs stored encrypted (spine_db.crypto):
the columns become text wide enough for a token, and each request gets ``mobile_index`` (a keyed
hash of the number) so it can still be found by number. Existing rows keep their plain values
until ``python -m spine_db.crypto rotate`` encrypts them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

from spine_db.crypto import decrypt, mobile_index

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

REQUESTS = ("bookings", "callbacks")


def upgrade() -> None:
    for table in REQUESTS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("patient_name", type_=sa.Text(), existing_nullable=False)
            batch.alter_column("mobile", type_=sa.Text(), existing_nullable=False)
            batch.add_column(sa.Column("mobile_index", sa.String(64), nullable=True))
            batch.create_index(f"ix_{table}_mobile_index", ["mobile_index"])
        conn = op.get_bind()
        rows = conn.execute(sa.text(f"SELECT id, mobile FROM {table}")).all()  # noqa: S608
        for row in rows:
            conn.execute(
                sa.text(f"UPDATE {table} SET mobile_index = :i WHERE id = :id"),  # noqa: S608
                {"i": mobile_index(decrypt(row.mobile) or ""), "id": row.id},
            )


def downgrade() -> None:
    for table in REQUESTS:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_mobile_index")
            batch.drop_column("mobile_index")
            batch.alter_column("mobile", type_=sa.String(20), existing_nullable=False)
            batch.alter_column("patient_name", type_=sa.String(128), existing_nullable=False)
