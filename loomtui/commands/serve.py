"""`loomtui serve`: the pod service in the foreground (see loomtui/service.py).

Exits 0 when stopped (SIGTERM, SIGINT, SIGHUP). While another service holds the pod's
`serve` lease it stands by and says so; it takes over when that one goes.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
import threading

from loomtui.commands.common import read_config
from loomtui.commands.errors import CommandError
from loomtui.store.db import StoreError, db_path, describe_error, pod_dir


def run(args: argparse.Namespace) -> int:
    from loomtui.service import PodService, check_store

    pod = pod_dir()
    config = read_config(pod)
    try:
        check_store(pod)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s loomtui serve: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if not args.compact_every > 0:
        raise CommandError("--compact-every must be a positive number of seconds")
    service = PodService(pod, config, ingest=not args.no_ingest, diffs=not args.no_diffs,
                         compact_every=args.compact_every)
    print(f"serving {pod} (hooks on {pod / 'serve.sock'}); ctrl+c stops", file=sys.stderr, flush=True)
    service.run(stop)
    if service.state.startswith("error"):
        raise CommandError(service.state)
    return 0
