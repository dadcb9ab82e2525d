"""One live run per workdir.

Two processes training into one workdir interleave their checkpoints, and the
newest one then belongs to whichever wrote last. A run therefore holds
``<workdir>/run.lock`` for as long as it writes there.

The lock is an advisory ``flock`` on that file, not the file's existence:
the kernel drops it when its process dies, however it dies, so a run killed
with SIGKILL (or a machine that rebooted) never blocks the next one. The file
also records who held it (pid, host, start time), which is what a refused run
names, and what a run that takes over a dead run's lock reports.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import socket
import sys

from gan_zoo.errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no flock; the pid check below stands in for it.
    fcntl = None

NAME = "run.lock"


def _holder_text(holder: dict) -> str:
    return (
        f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
        f"{holder.get('started', '?')}"
    )


def _read(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):  # gone, or cut short by a crash while it was written
        return {}


def _alive_here(holder: dict) -> bool:
    """Whether ``holder`` is a live process on this host (the fallback where
    flock is missing; another host's process cannot be checked and counts as
    alive)."""
    if holder.get("host") != socket.gethostname():
        return bool(holder)
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError):
        return True
    return True


def _try_flock(fd: int) -> bool:
    """True if this process now holds the lock on ``fd``; False if another
    does. A file system without locks counts as unlocked (the pid check
    decides instead)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        if e.errno == errno.ENOLCK:
            return True
        raise
    return True


@contextlib.contextmanager
def hold(workdir: str):
    """Holds ``workdir``'s lock within the block.

    Raises:
      UserError: another live process holds it; the message names that
        process and what to do.
    """
    path = os.path.join(workdir, NAME)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_flock(fd):
            os.close(fd)
            raise UserError(
                f"another run is training in {workdir} ({_holder_text(_read(path))}); wait "
                "for it to finish, stop it (kill -TERM <pid> saves a checkpoint first), or choose "
                "another --workdir."
            )
        # The file may have been removed (by a run that just finished) between
        # our open and our flock: then we locked a file nobody else will see.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    previous = _read(path)
    if previous and fcntl is None and _alive_here(previous):
        os.close(fd)
        raise UserError(
            f"another run is training in {workdir} ({_holder_text(previous)}); wait for it to "
            f"finish, stop it, or delete {path} if that process is gone."
        )
    if previous:
        print(
            f"Taking over the lock on {workdir} from a run that is no longer running "
            f"({_holder_text(previous)}).",
            file=sys.stderr,
        )
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(me).encode())
    os.fsync(fd)
    try:
        yield
    finally:
        # Unlink before unlocking, so that no one can lock this inode after us.
        with contextlib.suppress(OSError):
            os.remove(path)
        os.close(fd)
