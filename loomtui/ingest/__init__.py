"""Transcripts into the store: the Claude and Codex parsers, tailing, the ingester and its
service, prices, and the usage report."""
