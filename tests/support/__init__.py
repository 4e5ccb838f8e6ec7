"""Helpers shared by the tests: databases per backend, message services, fake third-party APIs,
the console client, conversation digests."""
