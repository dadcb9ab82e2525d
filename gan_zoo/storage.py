"""Writing files so that a run killed at any moment, or a full disk, leaves
each of them whole or absent: the new version is written beside the old one
under a temporary name and renamed into place when complete (a rename within
a directory is atomic). What is found damaged is moved aside, never deleted.
"""

from __future__ import annotations

import errno
import os
import shutil

STAGING = ".partial"  # the new version, while it is written
PREVIOUS = ".previous"  # the old directory, for the instant of a swap


def write_text(path: str, text: str) -> str:
    """Writes ``text`` to ``path`` through ``<path>.partial``; returns ``path``."""
    staging = path + STAGING
    try:
        with open(staging, "w") as f:
            f.write(text)
            f.flush()
            # The rename must not reach the disk before the data: after a
            # power cut the file would be empty instead of old or new.
            os.fsync(f.fileno())
        os.replace(staging, path)
    except BaseException:
        _remove(staging)
        raise
    return path


def replace_directory(staging: str, directory: str) -> None:
    """Puts the complete ``staging`` directory in the place of ``directory``
    (two renames), so a reader, or a process killed meanwhile, sees the old
    directory or the new one, never a mix. A kill between the renames leaves
    ``<directory>.previous``, which :func:`recover_directory` puts back."""
    previous = directory + PREVIOUS
    if os.path.isdir(directory):
        shutil.rmtree(previous, ignore_errors=True)
        os.rename(directory, previous)
    os.rename(staging, directory)
    shutil.rmtree(previous, ignore_errors=True)


def recover_directory(directory: str) -> None:
    """Undoes what a kill during :func:`replace_directory` or during the
    writing of its staging directory left: the old ``directory`` goes back in
    place if the swap was cut between its renames, and the unfinished new one
    is dropped (it was never in place, so no one has read it)."""
    previous = directory + PREVIOUS
    if os.path.isdir(previous):
        if os.path.isdir(directory):
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.rename(previous, directory)
    shutil.rmtree(directory + STAGING, ignore_errors=True)


def recover_file(path: str) -> None:
    """Drops the staging file a kill during :func:`write_text` left."""
    _remove(path + STAGING)


def move_aside(paths: list[str], directory: str) -> str:
    """Moves the existing ``paths`` into the new directory ``directory``
    (``directory.2``, ``.3``, ... if it exists: an earlier damage stays too);
    returns the directory they went to."""
    target, n = directory, 1
    while os.path.exists(target):
        n += 1
        target = f"{directory}.{n}"
    os.makedirs(target)
    for path in paths:
        if os.path.lexists(path):
            os.rename(path, os.path.join(target, os.path.basename(path)))
    return target


def out_of_space(error: BaseException) -> bool:
    """Whether ``error`` (an OSError, or TensorFlow's error for a failed
    file write, which keeps only the message) says the disk is full."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(text in str(error) for text in (os.strerror(errno.ENOSPC), "Disk quota exceeded"))


def size_text(num_bytes: float) -> str:
    """``29887440`` -> ``29.9 MB``."""
    for unit in ("bytes", "KB", "MB"):
        if num_bytes < 1000:
            return f"{num_bytes:.0f} {unit}" if unit == "bytes" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1000
    return f"{num_bytes:.1f} GB"


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
