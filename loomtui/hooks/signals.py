"""What a hook does when a signal arrives before it has answered: deny.

`cli.main` installs `interrupted` first thing on the hook's path, before any slow
import, so an early SIGTERM still blocks the call; Claude Code lets a call through
when its hook dies of a signal.
"""


def interrupted(signum, _frame) -> None:
    """SIGTERM/SIGINT/SIGHUP before the hook's own handling is in place: block the
    action (exit 2), never die with a signal status."""
    import os

    os.write(2, b"LoomTUI: the hook was interrupted; denied to be safe\n")
    os._exit(2)
