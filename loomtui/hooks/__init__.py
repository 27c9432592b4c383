"""The agents' way in: the hook's dispatch, protocol and gatekeeper, and the agents' hook settings. Lean: no textual, no gitpython."""
