"""The agents' way in: the hook's dispatch, protocol and gatekeeper, and their hook settings."""
