"""The simulated pod behind `loomtui demo` and the benchmarks.

`repo` makes a real git repository with a worktree per agent; `agents` drives
simulated agents through the store API the hooks use; `pod` puts both together.
"""
