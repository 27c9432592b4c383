"""Worktree discovery and diffs (issue 5). Nothing here yet."""
