"""What the hook command `loomtui init` writes runs:

    python3 -I -S /path/to/loomtui/hooks/launch.py claude|codex

A stub, so that the hook client (client.py, beside it) loads from its compiled cache:
a script named on the command line is compiled from source on every run, which
costs the client a few milliseconds per call. The client is imported under its own
name from this directory; nothing of the `loomtui` package is loaded. Any failure
here is a deny (exit 2): Claude Code lets a call through on exit 1.
"""

if __name__ == "__main__":
    import _signal
    import posix

    def _early(signum, _frame):
        posix.write(2, b"LoomTUI: the hook was interrupted; denied to be safe\n")
        posix._exit(2)

    for _sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
        _signal.signal(_sig, _early)
    import sys

    try:
        sys.path.insert(0, __file__.rpartition("/")[0] or ".")  # -I leaves the script's own directory out
        import client

        for _sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
            _signal.signal(_sig, client._interrupted)
        code = client.main(sys.argv)
    except BaseException as exc:  # noqa: BLE001 - never exit 1, never a traceback
        posix.write(2, f"LoomTUI: the hook client cannot run ({type(exc).__name__}: {exc}); "
                       "denied to be safe\n".encode())
        posix._exit(2)
    sys.exit(code)
