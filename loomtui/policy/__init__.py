"""Policy: classification of agents' actions (issue 3). Stdlib only; nothing here yet."""
