"""What a hook does when it is interrupted before it has answered: deny.

Claude Code lets a call through when its hook dies of a signal or exits 1, so
every interruption must end in a deny the agent reads. There are three:

- a signal before the hook's own handling is in place: `interrupted`, which
  `cli.main` installs first thing on the hook's path, before any slow import;
- a signal during the call: `interrupts_raise` turns it into `HookInterrupted`,
  so a waiting gate is cancelled and the caller answers deny;
- the caller hanging up while the hook waits for a supervisor: `watching_caller`
  raises `HookInterrupted` too (Claude Code runs a hook in its own session, so a
  dying agent sends it no signal).

This module is loaded before the early handler is installed: it imports nothing
at module level (`_signal` and `select` are imported where they are used).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself would be an import before the handler is in place
if TYPE_CHECKING:
    from collections.abc import Callable


def interrupted(signum, _frame) -> None:
    """SIGTERM/SIGINT/SIGHUP before the hook's own handling is in place: block the
    action (exit 2), never die with a signal status."""
    import os

    os.write(2, b"LoomTUI: the hook was interrupted; denied to be safe\n")
    os._exit(2)


class HookInterrupted(Exception):
    """A signal arrived, or the caller went away, while the hook (or `loomtui gate`)
    was deciding or waiting for a supervisor."""


class interrupts_raise:
    """During a hook call SIGTERM / SIGINT / SIGHUP raise HookInterrupted, so a
    waiting gate is cancelled and the agent gets a deny, instead of the process
    vanishing with a signal status (which Claude Code would let through).

    Uses the builtin `_signal`, loaded with the interpreter (`signal` would
    import enum)."""

    def __enter__(self) -> None:
        import _signal

        self._old = {}
        for sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
            try:
                self._old[sig] = _signal.signal(sig, self._raise)
            except ValueError:  # not the main thread (tests): nothing to install
                pass

    def __exit__(self, *exc_info) -> None:
        import _signal

        for sig, handler in self._old.items():
            _signal.signal(sig, handler)

    @staticmethod
    def _raise(signum, _frame) -> None:
        import _signal

        names = {_signal.SIGTERM: "SIGTERM", _signal.SIGINT: "SIGINT", _signal.SIGHUP: "SIGHUP"}
        raise HookInterrupted(names.get(signum, f"signal {signum}"))


def caller_gone() -> bool:
    """True when whoever reads our answer has gone: stdout or stderr hung up.
    Claude Code runs a hook in its own session, so when the agent dies the
    hook gets no signal; its output pipe or socket hanging up is the sign."""
    import select

    poller = select.poll()
    for fd in (1, 2):
        try:
            poller.register(fd, select.POLLHUP | select.POLLERR)
        except (OSError, ValueError):
            continue
    try:
        return any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL)
                   for _fd, mask in poller.poll(0))
    except OSError:
        return False


def watching_caller(sleep: Callable[[float], None],
                    gone: Callable[[], bool | str] | None = None) -> Callable[[float], None]:
    """`sleep` for a waiting hook: between naps, give up if the caller is gone
    (`gone`, default `caller_gone`: this process's stdout or stderr hung up; it may
    return the reason as a string, e.g. the signal a hook client was sent)."""
    gone = caller_gone if gone is None else gone

    def nap(seconds: float) -> None:
        why = gone()
        if why:
            raise HookInterrupted(why if isinstance(why, str) else "the agent exited while waiting")
        sleep(seconds)

    return nap
