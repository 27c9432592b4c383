"""End-to-end tests against the real Claude Code and Codex binaries, run offline
against a scripted stand-in for the model API (formats reference, sections 7-8)."""
