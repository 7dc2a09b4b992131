"""Receiving: the SMTP handler and its AUTH check, and backfill sources (`ingest`). Nothing here parses."""
