"""The one exception a command raises to report a failure to the user."""


class CommandError(Exception):
    """A failure to report to the user as one clear sentence."""
