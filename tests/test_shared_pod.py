"""A pod's privacy: a private pod is 0700 / 0600, a shared one a setgid
group directory (2770) whose files, the database's -wal and -shm included, are 0660
whatever the umask of whoever created them; `status` warns when other users can read it.

The shared-pod test uses real Unix accounts made for it (it needs root, as in CI): two
members of a new group gate and decide each other's actions through the real hook and
`loomtui approve`, and an account outside the group can read nothing. Those accounts
run Debian's /usr/bin/python3 on a world-readable copy of the package: the hook, `gates`,
`approve` and `status` need only the standard library (that interpreter has no textual,
rich or aiosqlite, so an import of one would fail the test).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import loomtui
from loomtui.store.db import connect, db_path, pod_is_shared
from tests.waiting import wait_for

SYSTEM_PYTHON = "/usr/bin/python3"
REPO_ROOT = Path(loomtui.__file__).resolve().parent.parent


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def loom(*args: str, pod: Path, umask: int = 0o022, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`loomtui ARGS` as this (root) process's account, with its own umask."""
    env = {**os.environ, "LOOM_HOME": str(pod), "PYTHONPATH": str(REPO_ROOT)}
    env.pop("LOOM_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "loomtui", *args], env=env, cwd=cwd or pod.parent,
                          capture_output=True, text=True, umask=umask, timeout=60)


def pod_entries(pod: Path) -> list[Path]:
    return [Path(root, name) for root, dirs, files in os.walk(pod) for name in dirs + files]


# -- one account: private pods, modes whatever the umask, the status warning ----------------


def test_a_new_pod_is_private_whatever_the_umask(tmp_path: Path) -> None:
    pod = tmp_path / "pod"
    done = loom("init", pod=pod, umask=0)  # the loosest umask: nothing may come from it
    assert done.returncode == 0, done.stderr
    assert "private to this user" in done.stdout
    assert mode(pod) == 0o700
    assert {p.name for p in pod.iterdir()} >= {"loom.db", "config.toml", "policy.toml", "themes"}
    for path in pod_entries(pod):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    # The -wal and -shm SQLite makes while a connection is open take the database's mode.
    conn = connect(db_path(pod))
    try:
        conn.execute("SELECT count(*) FROM gates").fetchone()
        for suffix in ("-wal", "-shm"):
            assert mode(pod / f"loom.db{suffix}") == 0o600
    finally:
        conn.close()


def test_the_modes_never_come_from_changing_the_umask(tmp_path: Path) -> None:
    """$EDITOR and tmux, started by the console, must keep the user's umask: LoomTUI sets
    modes on what it creates and leaves the process umask alone."""
    from loomtui.store.leases import open_leases

    before = os.umask(0o022)
    try:
        pod = tmp_path / "pod"
        connect(db_path(pod)).close()
        open_leases(pod).close()
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)
    assert mode(pod / "loom.db") == 0o600 and mode(pod / "leases.db") == 0o600


def test_an_old_pod_readable_by_others_is_warned_about_and_init_makes_it_private(tmp_path: Path) -> None:
    pod = tmp_path / "pod"
    assert loom("init", pod=pod).returncode == 0
    pod.chmod(0o755)  # what an earlier LoomTUI left with umask 022
    (pod / "loom.db").chmod(0o644)
    (pod / "policy.toml").chmod(0o644)

    text = loom("status", pod=pod)
    assert text.returncode == 0, text.stderr
    assert "access   readable by other users (directory 0755, store 0644)" in text.stdout
    assert f"fix it with `chmod -R o-rwx {pod}`" in text.stderr
    as_json = loom("status", "--json", pod=pod)
    access = json.loads(as_json.stdout)["access"]
    assert access["readable_by_others"] is True and "chmod -R o-rwx" in access["warning"]

    # Only the directory readable by others is enough for the warning.
    (pod / "loom.db").chmod(0o600)
    assert "chmod -R o-rwx" in loom("status", pod=pod).stderr

    assert loom("init", pod=pod).returncode == 0
    assert mode(pod) == 0o700 and mode(pod / "loom.db") == 0o600 and mode(pod / "policy.toml") == 0o600
    quiet = loom("status", "--json", pod=pod)
    assert quiet.stderr == "" and json.loads(quiet.stdout)["access"]["warning"] is None


@pytest.fixture
def any_group() -> grp.struct_group:
    """A group other than root's own (Debian's `staff`, else any other)."""
    try:
        return grp.getgrnam("staff")
    except KeyError:
        return next(g for g in grp.getgrall() if g.gr_gid != os.getgid())


def test_init_shared_creates_a_setgid_group_pod_whatever_the_umask(tmp_path: Path, any_group) -> None:
    pod = tmp_path / "team" / "pod"
    done = loom("init", "--shared", any_group.gr_name, pod=pod, umask=0o077, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"shared with group {any_group.gr_name}" in done.stdout
    assert mode(pod) == 0o2770 and pod.stat().st_gid == any_group.gr_gid
    assert pod_is_shared(pod)
    for path in pod_entries(pod):
        assert mode(path) == (0o2770 if path.is_dir() else 0o660), path
        assert path.stat().st_gid == any_group.gr_gid, path
    status = json.loads(loom("status", "--json", pod=pod).stdout)["access"]
    assert status == {"shared": True, "group": any_group.gr_name, "mode": "2770", "store_mode": "0660",
                      "readable_by_others": False, "warning": None}


def test_init_shared_adopts_an_existing_private_pod(tmp_path: Path, any_group) -> None:
    pod = tmp_path / "pod"
    assert loom("init", pod=pod).returncode == 0
    assert mode(pod / "loom.db") == 0o600
    done = loom("init", "--shared", any_group.gr_name, pod=pod)
    assert done.returncode == 0, done.stderr
    assert "kept as it is" in done.stdout  # the config and policy themselves are not rewritten
    assert mode(pod) == 0o2770
    for path in pod_entries(pod):
        assert mode(path) == (0o2770 if path.is_dir() else 0o660), path
        assert path.stat().st_gid == any_group.gr_gid, path


def test_a_setgid_group_writable_directory_is_a_shared_pod_for_plain_init(tmp_path: Path, any_group) -> None:
    pod = tmp_path / "pod"
    pod.mkdir()
    os.chown(pod, -1, any_group.gr_gid)
    pod.chmod(0o2770)
    done = loom("init", pod=pod, umask=0o077)
    assert done.returncode == 0, done.stderr
    assert f"shared with group {any_group.gr_name}" in done.stdout
    assert mode(pod) == 0o2770
    for path in pod_entries(pod):
        assert mode(path) == (0o2770 if path.is_dir() else 0o660), path
    # Files made later, by other code paths and a strict umask, follow the pod too.
    script = ("import sys; from pathlib import Path; from loomtui.store.leases import open_leases; "
              "open_leases(Path(sys.argv[1])).close()")
    subprocess.run([sys.executable, "-c", script, str(pod)], check=True, umask=0o077,
                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert mode(pod / "leases.db") == 0o660


def test_init_shared_says_when_members_cannot_reach_the_pod(tmp_path: Path, any_group) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    done = loom("init", "--shared", any_group.gr_name, pod=closed / "pod", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"other members of {any_group.gr_name} cannot reach the pod: {closed} is not searchable" \
        in done.stderr


@pytest.mark.parametrize("bits", [0o2750, 0o0770, 0o2700])
def test_only_setgid_and_group_writable_is_shared(tmp_path: Path, bits: int) -> None:
    pod = tmp_path / "pod"
    pod.mkdir()
    pod.chmod(bits)
    assert not pod_is_shared(pod)


def test_init_shared_with_an_unknown_group_is_one_clear_line(tmp_path: Path) -> None:
    pod = tmp_path / "pod"
    done = loom("init", "--shared", f"no-such-group-{uuid.uuid4().hex[:8]}", pod=pod)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "no group named" in done.stderr
    assert not pod.exists()


# -- real accounts: two members share a pod, a third account reads nothing --------------------


def _run_root(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


class Account:
    """A Unix account made for the test, and how to run a command as it (its own
    groups as login would give them, a clean environment, its own umask)."""

    def __init__(self, name: str, home: Path, pod: Path, lib: Path) -> None:
        entry = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, entry.pw_uid, entry.pw_gid
        self.groups = os.getgrouplist(name, entry.pw_gid)
        self.home = home
        self.env = {"HOME": str(home), "LOOM_HOME": str(pod), "PATH": "/usr/bin:/bin",
                    "PYTHONPATH": str(lib), "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}

    def popen(self, argv: list[str], *, umask: int = 0o022, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("env", self.env)
        return subprocess.Popen(argv, user=self.uid, group=self.gid, extra_groups=self.groups,
                                cwd=self.home, umask=umask, text=True, **kwargs)

    def run(self, *argv: str, umask: int = 0o022, stdin: str | None = None,
            pod: Path | None = None) -> subprocess.CompletedProcess:
        env = self.env if pod is None else {**self.env, "LOOM_HOME": str(pod)}
        proc = self.popen(list(argv), umask=umask, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env)
        try:
            out, err = proc.communicate(stdin, timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def loom(self, *args: str, umask: int = 0o022, pod: Path | None = None) -> subprocess.CompletedProcess:
        return self.run(SYSTEM_PYTHON, "-m", "loomtui", *args, umask=umask, pod=pod)

    def agent(self, command: str, *, umask: int) -> subprocess.Popen:
        """A stand-in for the agent: a process that runs the real hook for one Bash
        call (the hook records it as the agent above it; the decider is elsewhere)."""
        payload = {"session_id": str(uuid.uuid4()), "transcript_path": str(self.home / "t.jsonl"),
                   "cwd": str(self.home), "permission_mode": "default",
                   "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "toolu_1",
                   "tool_input": {"command": command, "description": "x"}}
        runner = ("import subprocess, sys; "
                  "sys.exit(subprocess.run([sys.executable, '-m', 'loomtui', 'hook', 'claude']).returncode)")
        proc = self.popen([SYSTEM_PYTHON, "-c", runner], umask=umask, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdin.write(json.dumps(payload))
        proc.stdin.close()
        proc.stdin = None  # sent: communicate() only reads from here on
        return proc


@pytest.fixture
def accounts():
    """A group with two members, an account outside it, and a world-traversable
    directory under /tmp (not tmp_path: /tmp/pytest-of-root is 0700) holding a
    world-readable copy of the package, their homes and the pod's parent."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create Unix accounts and a group (CI runs as root)")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"needs {SYSTEM_PYTHON}, an interpreter every account may run")
    tag = uuid.uuid4().hex[:8]
    group, names = f"ltg{tag}", [f"lta{tag}", f"ltb{tag}", f"ltc{tag}"]
    base = Path(f"/tmp/loomtui-shared-{tag}")
    made_users: list[str] = []
    made_group = False
    try:
        base.mkdir(mode=0o755)
        base.chmod(0o755)
        lib = base / "lib"
        shutil.copytree(REPO_ROOT / "loomtui", lib / "loomtui",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for path in [lib, *pod_entries(lib)]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        _run_root("groupadd", group)
        made_group = True
        for index, name in enumerate(names):
            member = ["-G", group] if index < 2 else []
            _run_root("useradd", "-M", "-N", "-s", "/usr/sbin/nologin", *member, name)
            made_users.append(name)
        team = base / "team"  # the pod's parent: the first member's, open to all to traverse
        team.mkdir(mode=0o755)
        team.chmod(0o755)
        pod = team / "pod"
        people = []
        for name in names:
            home = base / "home" / name
            home.mkdir(parents=True)
            entry = pwd.getpwnam(name)
            os.chown(home, entry.pw_uid, entry.pw_gid)
            home.chmod(0o700)
            people.append(Account(name, home, pod, lib))
        (base / "home").chmod(0o755)
        os.chown(team, people[0].uid, people[0].gid)
        yield grp.getgrnam(group), pod, *people
    finally:
        for name in made_users:
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
            subprocess.run(["userdel", name], capture_output=True)
        if made_group:
            subprocess.run(["groupdel", group], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


SHORT_EXPIRY_RULE = """\
[[rule]]                  # the test's gate: a short expiry, so a lost decision cannot hang it
name = "shared-pod-test-force-push"
action = "gate"
risk = "critical"
command = "git push"
flags = ["--force"]
expires_after = 60

"""


def wait_for_pending(account: Account, agent: subprocess.Popen, timeout: float = 30) -> int:
    """The id of the one pending gate, as `account` sees it with `loomtui gates --json`
    (an AssertionError with the agent's answer if its hook ends without waiting)."""
    def pending() -> list[dict]:
        if agent.poll() is not None:
            out, err = agent.communicate()
            raise AssertionError(f"the hook answered without a gate: {out!r} {err!r}")
        listed = account.loom("gates", "--json")
        assert listed.returncode == 0, listed.stderr
        return json.loads(listed.stdout)["gates"]

    (gate,) = wait_for(pending, "a pending gate", timeout=timeout, interval=0.1)
    assert gate["rule"] == "shared-pod-test-force-push"  # the rule the other member added
    return gate["id"]


def assert_group_files(pod: Path, group: grp.struct_group, *required: str) -> None:
    """Every entry in the pod is in the group, files 0660 and directories 2770; the
    `required` ones exist now."""
    for name in required:
        assert (pod / name).exists(), f"{name} is missing"
    for path in pod_entries(pod):
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue  # a -wal removed by its last connection as we looked
        want = 0o2770 if stat.S_ISDIR(info.st_mode) else 0o660
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (want, group.gr_gid), \
            f"{path.name}: mode {stat.S_IMODE(info.st_mode):04o}, gid {info.st_gid}"


def gate_and_decide(pod: Path, group, asker: Account, decider: Account, *, umask: int) -> None:
    """`asker`'s agent runs a gated command through the real hook; `decider` approves it."""
    store_files = ("loom.db", "loom.db-wal", "loom.db-shm")
    assert not (pod / "loom.db-wal").exists()  # the asker's hook makes the -wal and -shm
    agent = asker.agent("git push --force origin main", umask=umask)
    try:
        gate_id = wait_for_pending(decider, agent)
        assert_group_files(pod, group, *store_files)  # the waiting hook holds them open
        for name in store_files[1:]:
            assert (pod / name).stat().st_uid == asker.uid, f"{name} was not made by {asker.name}"
        decided = decider.loom("approve", str(gate_id), "--reason", "go", umask=0o077)
        assert decided.returncode == 0, decided.stderr
        assert decided.stdout.startswith(f"approved gate {gate_id}")
        out, err = agent.communicate(timeout=60)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    answer = json.loads(out)["hookSpecificOutput"]
    assert answer["permissionDecision"] == "allow", err
    assert answer["permissionDecisionReason"].startswith(f"Approved by {decider.name}")
    assert_group_files(pod, group, "loom.db")


def test_two_members_gate_and_decide_and_an_outsider_reads_nothing(accounts) -> None:
    group, pod, alice, bob, mallory = accounts

    made = alice.loom("init", "--shared", group.gr_name)
    assert made.returncode == 0, made.stderr
    assert "warning" not in made.stderr  # every directory above the pod is traversable
    assert mode(pod) == 0o2770 and pod.stat().st_uid == alice.uid
    assert_group_files(pod, group, "loom.db", "config.toml", "policy.toml", "themes")

    # Bob, with the strictest umask, edits the policy alice's init wrote.
    edit = bob.run(SYSTEM_PYTHON, "-c", "import sys; p = sys.argv[1]; t = open(p).read(); "
                   "i = t.index('\\n[[rule]]') + 1; open(p, 'w').write(t[:i] + sys.stdin.read() + t[i:])",
                   str(pod / "policy.toml"), umask=0o077, stdin=SHORT_EXPIRY_RULE)
    assert edit.returncode == 0, edit.stderr

    gate_and_decide(pod, group, alice, bob, umask=0o022)  # alice's -wal, bob writes into it
    gate_and_decide(pod, group, bob, alice, umask=0o077)  # bob's -wal, 0660 despite umask 077

    # The audit trail names each decider by account.
    audit = bob.loom("audit", "export")
    assert audit.returncode == 0, audit.stderr
    assert alice.name in audit.stdout and bob.name in audit.stdout

    # Outside the group: nothing, with a clear message and no traceback.
    listing = mallory.run("ls", str(pod))
    assert listing.returncode != 0 and "Permission denied" in listing.stderr
    reading = mallory.run("cat", str(pod / "loom.db"))
    assert reading.returncode != 0 and "Permission denied" in reading.stderr
    opening = mallory.run(SYSTEM_PYTHON, "-c", "import sqlite3, sys; "
                          "sqlite3.connect(sys.argv[1]).execute('select * from gates').fetchall()",
                          str(pod / "loom.db"))
    assert opening.returncode != 0 and "unable to open database file" in opening.stderr
    for args in (("gates",), ("gates", "--json", "--all"), ("status",), ("approve", "1"),
                 ("audit", "export")):
        done = mallory.loom(*args)
        assert done.returncode == 1, (args, done.stdout)
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, (args, done.stderr)
        assert "Permission denied" in done.stderr and str(pod) in done.stderr, (args, done.stderr)
        assert done.stdout == "", args
    # Nor can the outsider make a pod of its own shared with a group it is not in.
    refused = mallory.loom("init", "--shared", group.gr_name, pod=mallory.home / "pod")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1 and f"be a member of {group.gr_name}" in refused.stderr
    # The outsider's own agent is denied (fail closed), not let through.
    agent = mallory.agent("git push --force origin main", umask=0o022)
    out, err = agent.communicate(timeout=60)
    assert "Traceback" not in err
    if out:
        assert json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"
    else:
        assert agent.returncode == 2 and "LoomTUI" in err
    assert_group_files(pod, group, "loom.db")
