"""Worktrees and their diffs: discovery.py finds the worktrees of the
agents' repositories and each one's base; diff.py computes a worktree's changes
against merge-base(base, HEAD) as git counts them; watch.py keeps the store's
diff stats current with watchfiles. Runs git; never on the hook path, never on
the console's event loop (thread workers)."""
