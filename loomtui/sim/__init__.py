"""The simulated pod behind `loomtui demo` and the benchmarks.

- `pod`: a whole demo pod: temporary pod directory, config, policy, repository, and the thread that runs it
- `repo`: the real git repository with a worktree per agent, and the agents' commits in it
- `engine`: the simulation loop: agents' lifecycles, driven through the real hook path and the store API
- `tool_calls`: what the agents call: the tool and input of an ordinary call and of a risky one
- `gated_call`: a gated hook call in a worker thread that runs in lockstep with the engine
- `edits`: real edits (`edits=True`): Edit/Write calls change the worktrees' files, `git commit` commits
- `memory_notes`: the agents' use of the shared memory (`memory=True`): seed notes, notes, handoffs
- `teammate`: sam, the simulated second supervisor who decides gates and reviews proposals
- `transcripts`: real-format Claude Code and Codex transcripts the agents write, for the ingester
- `scenario`: the scripted material: areas, tasks, risky actions, questions, words, memory notes
"""
