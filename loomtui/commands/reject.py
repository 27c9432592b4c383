"""`loomtui reject ID --reason R`: refuse a pending gate; the agent is told the reason."""

from __future__ import annotations

import argparse

from loomtui.commands.approve import decide_command


def run(args: argparse.Namespace) -> int:
    return decide_command(args, approve=False)
