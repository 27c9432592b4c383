"""Shared memory for the pod: entries agents and supervisors write,
retrieval under a token budget, and the agents' ways in.

- `entries`: the model and its governance (add, edit with compare-and-swap,
  supersede, accept / reject, pin, retire; history and audit for every change);
- `retrieval`: ranking (FTS5 bm25 with pins, scope and recency), the token
  estimate, packing whole entries into a budget;
- `context`: the text the SessionStart hook injects;
- `pod`: what the other agents are doing (pod_status);
- `identity`: who is calling (an agent from its environment, or a supervisor);
- `server`: `loomtui mcp`, the only module that imports the `mcp` SDK.

Everything but `server` is stdlib + store: the SessionStart hook imports it.
"""
