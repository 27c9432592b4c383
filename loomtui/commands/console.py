"""`loomtui` / `loomtui console`: open the console on the pod."""

from __future__ import annotations

import argparse

from loomtui.commands.common import open_pod, read_config


def run(args: argparse.Namespace) -> int:
    pod, conn = open_pod(create=True)  # checks the store (version, corruption) before the UI starts
    conn.close()
    config = read_config(pod, warn=False)  # the console shows warnings itself

    if config.console.start_service:
        # One pod service per pod: started here when none answers; it outlives this
        # console (`loomtui serve` stands by if another started at the same moment).
        from loomtui.service import start_detached

        start_detached(pod)

    from loomtui.tui.app import make_app

    app = make_app(pod, config, theme=args.theme)
    app.run()
    return app.return_code or 0
