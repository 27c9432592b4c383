"""`loomtui ingest [--once]`: the transcript ingester without a console.

`--once` catches up on every transcript and exits. Without it, the command takes the
pod's ingest lease (or waits for it: another console or ingester may hold it) and follows
the transcripts until interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
import threading

from loomtui.commands.common import read_config
from loomtui.commands.errors import CommandError
from loomtui.store.db import StoreError, db_path, describe_error, ensure_pod_dir, pod_dir


def run(args: argparse.Namespace) -> int:
    from loomtui.ingest.pricing import PriceError
    from loomtui.ingest.service import IngestService

    pod = pod_dir()
    config = read_config(pod)
    try:
        ensure_pod_dir(pod)
        service = IngestService(pod, config, role="loomtui ingest")
        if args.once:
            done = service.once()
            print(f"read {done.files} transcript(s): {done.records} usage record(s) new or updated, "
                  f"{done.bad_lines} bad line(s) skipped")
            from loomtui.text import printable

            for error in done.errors:
                print(f"loomtui ingest: {printable(error)}", file=sys.stderr)  # quotes transcript paths
            return 1 if done.errors else 0
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        print(f"ingesting for {pod} (roots: {', '.join(str(r) for r in service.roots.watched())}); "
              "ctrl+c stops", file=sys.stderr)
        service.run(stop)
        return 0
    except PriceError as exc:
        raise CommandError(str(exc)) from None
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise CommandError(describe_error(db_path(pod), exc)) from None
