"""`loomtui init`: create the pod directory, its store and a commented config."""

from __future__ import annotations

import argparse

from loomtui.cli import CommandError
from loomtui.commands.common import open_pod
from loomtui.config import DEFAULT_CONFIG_TEXT, config_path


def run(args: argparse.Namespace) -> int:
    pod, conn = open_pod(create=True)
    conn.close()
    path = config_path(pod)
    if path.exists():
        print(f"pod at {pod} (config {path} kept as it is)")
    else:
        try:
            path.write_text(DEFAULT_CONFIG_TEXT, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
        print(f"created pod at {pod} with a commented config at {path}")
    (pod / "themes").mkdir(exist_ok=True)
    if args.agent:
        raise CommandError(
            f"configuring {args.agent} hooks is not built yet (it comes with gated actions); "
            "the pod itself is ready"
        )
    return 0
