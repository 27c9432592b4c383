"""Transcript ingest and pricing (issue 4). Nothing here yet."""
