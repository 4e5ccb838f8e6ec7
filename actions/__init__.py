"""Custom actions of the Spine Care Assistant (run by ``rasa run actions``).

One module per concern; pure helpers are kept apart from the Rasa glue so they can be unit-tested.
"""
