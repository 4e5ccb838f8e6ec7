"""What every process shares: the SQL data layer (booking and call-back requests, next to Rasa's
conversations), settings, field encryption, masking, erasure and retention, the WhatsApp inbox.

One database for everything (a SQLite file under ``var/`` by default, PostgreSQL when
``DATABASE_URL`` is set): Rasa's tracker store (``spine_rasa.tracker_store``) writes the ``events``
table, the action server writes ``bookings`` and ``callbacks``; staff review them together. Our
tables are created and changed by alembic migrations (``spine_db/migrations``);
``python -m spine_db.migrate upgrade`` applies them.
"""
