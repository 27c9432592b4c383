"""The two ways a hook call reaches the pod, for tests that must hold on both.

- direct: `loomtui hook claude|codex`, the whole hook path in the agent's process;
- served: the command `loomtui init` writes (the hook client, `python3 -I -S
  .../loomtui/hooks/launch.py claude`) with a `loomtui serve` running for the pod,
  started on the first call into that pod and stopped after the test.

A module opts in with `pytestmark = pytest.mark.usefixtures("hook_route")` (the
fixture is in conftest.py): each of its tests then runs once each way. Where a
service cannot run (the test removed or broke the store first), the client goes
direct, which is what the served path does in that case too.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from loomtui.hooks import install
from loomtui.hooks.served import answering, socket_path
from tests.waiting import wait_for

ROUTES = ("direct", "served")


class Route:
    def __init__(self, name: str) -> None:
        self.name = name
        self.services: dict[Path, subprocess.Popen] = {}
        self.answering: set[Path] = set()  # pods whose service came up
        self.answered = 0  # hook calls the services say they answered
        self.reaches_service = True  # False: the test stops its calls before they are sent

    def argv(self, agent: str) -> list[str]:
        if self.name == "served":
            return shlex.split(install.hook_command(agent))
        return [sys.executable, "-m", "loomtui", "hook", agent]

    def prepare(self, pod: Path, env: dict[str, str]) -> None:
        """Served: make sure a service answers for `pod` (when its store can be opened)."""
        if self.name != "served" or pod in self.services:
            return
        service = subprocess.Popen([sys.executable, "-m", "loomtui", "serve", "--no-ingest", "--no-diffs"],
                                   env={**env, "LOOM_HOME": str(pod)}, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.services[pod] = service
        wait_for(lambda: service.poll() is not None or answering(socket_path(pod), 0.2),
                 f"the pod service for {pod} to answer")
        if service.poll() is None:
            self.answering.add(pod)

    def kill_service(self, pod: Path, held_calls: int) -> None:
        """SIGKILL the pod's service (it cannot say what it answered: `held_calls`)."""
        service = self.services.pop(pod)
        service.kill()
        service.wait()
        if service.stderr is not None:
            service.stderr.close()
        self.answered += held_calls

    def stop(self) -> None:
        for service in self.services.values():
            if service.poll() is None:
                service.send_signal(signal.SIGTERM)
                try:
                    service.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    service.kill()
                    service.wait()
            if service.stderr is not None:
                found = re.search(rb"answered (\d+) hook call", service.stderr.read())
                self.answered += int(found.group(1)) if found else 0
                service.stderr.close()
        self.services.clear()


CURRENT = Route("direct")  # what `tests.test_hook.start` uses now


def use(name: str) -> Route:
    global CURRENT
    CURRENT = Route(name)
    return CURRENT



def start_service(pod: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    """`loomtui serve --no-ingest --no-diffs` for `pod`, once its socket answers (text stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "loomtui", "serve", "--no-ingest", "--no-diffs", *extra],
                            env={**env, "LOOM_HOME": str(pod)}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: proc.poll() is not None or answering(socket_path(pod), 0.2),
             "the pod service to answer")
    assert proc.poll() is None, proc.stderr.read()
    return proc


def stop_service(proc: subprocess.Popen) -> str:
    """SIGTERM, wait, and its log."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return proc.stderr.read()
