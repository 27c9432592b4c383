"""Agent-facing hook entry points (issue 3). Must stay lean: no textual, no gitpython."""
