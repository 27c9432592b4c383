"""`loomtui demo`: a simulated pod in a temporary directory, then the console."""

from __future__ import annotations

import argparse
import signal
import sys

from loomtui.commands.errors import CommandError


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.agents <= 500:
        raise CommandError("--agents must be between 1 and 500")
    from loomtui.config import load_config
    from loomtui.sim.pod import create_demo_pod

    print(f"loomtui demo: creating a pod with {args.agents} simulated agents…", file=sys.stderr)
    try:
        demo = create_demo_pod(args.agents)
    except (OSError, RuntimeError) as exc:
        raise CommandError(f"cannot create the demo pod: {exc}") from None
    # The demo's audit witness lives and dies with its temporary pod, not in the
    # user's ~/.local/state (which would keep one file per demo ever run).
    import os

    os.environ["XDG_STATE_HOME"] = str(demo.root / "state")
    try:
        demo.start(args.agents, args.seed)
        if not demo.serve():
            print(f"loomtui demo: the pod service did not start (see {demo.root / 'serve.log'}); "
                  "the console ingests and watches diffs itself", file=sys.stderr)
        from loomtui.tui.app import make_app

        app = make_app(demo.pod, load_config(demo.pod), theme=args.theme, environ=demo.environ())
        # Closing the tmux pane (SIGHUP) or a kill (SIGTERM) leaves through the
        # same path as `q`, so the temporary pod is still removed.
        for sig in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(sig, lambda *_: app.exit())
        app.run()
    finally:
        demo.stop()
        if args.keep:
            print(f"loomtui demo: kept the pod in {demo.root} "
                  f"(LOOM_HOME={demo.pod} loomtui to open it again)", file=sys.stderr)
        else:
            demo.remove()
    if demo.error is not None:
        raise CommandError(f"the simulation stopped with an error: {demo.error}")
    return app.return_code or 0
